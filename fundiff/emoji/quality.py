"""How well the emoji model does Part A, read by the emoji classifier (:mod:`fundiff.emoji.classifier`).

    python -m fundiff.emoji.quality samples    # share of CFG samples of the demo's 40 prompts read as asked
    python -m fundiff.emoji.quality anagrams   # anagram pairs: prompt 1 upright, prompt 2 through the view
    python -m fundiff.emoji.quality hybrids    # hybrid pairs: prompt 1 from afar, prompt 2 up close
    python -m fundiff.emoji.quality sdedit     # the photo edited into "a rocket ship" at each i_start
    python -m fundiff.emoji.quality search --kind flip|rot90|…   # which lookalike pairs work as anagrams (other seeds)
    python -m fundiff.emoji.quality search --kind hybrid       # which pairs of SEARCH_GROUPS work as hybrids
    python -m fundiff.emoji.quality search --pairs "slice of pizza|fire;crown|jellyfish|flip"   # given candidates
    python -m fundiff.emoji.quality drawings --out runs/drawings.safetensors   # what the model draws per concept
    python -m fundiff.emoji.quality search --kind flip --drawings runs/drawings.safetensors   # candidates among
        # the concepts it draws: outlines that rhyme through the view (hybrids: blurs that agree)

Every sample is made with the Part A loop of an implementation (``--impl``, default solutions/):
CFG at γ = 7 against "", strided timesteps 990, 960, …, 0.  "Reads as p" = the classifier's top-1
over all the concepts the model learned and "a turned picture" (:data:`~fundiff.emoji.classifier.TURNED`)
is p's concept (a prompt's concept: the emoji it is a caption of); ``pair`` readings compare only the
two prompts' logits.  A hybrid is read from afar by that classifier and up close by the near reader
(:data:`~fundiff.emoji.classifier.NEAR_READER_FILE`: lines and shapes, not colours), each over the
concepts alone (a hybrid is not turned).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from functools import lru_cache

import torch

from ..impl import as_impl
from ..negative_prompt import negative_cfg_estimator
from ..pictures import gaussian_kernel_size
from .classifier import CLASSIFIER_FILE, NEAR_READER_FILE, at_classifier_size, classify, down_up, logits
from .concepts import captions_of, load_subset

#: The 40 prompts the demo and the metric use (the course's prompts first).
DEMO_PROMPTS = (
    "a rocket ship", "a pencil", "a photo of a dog", "an oil painting of an old man", "a lithograph of a skull",
    "an oil painting of people around a campfire", "a snowy mountain village", "a photo of a man",
    "a lithograph of waterfalls", "a photo of the amalfi coast",
    "red apple", "banana", "strawberry", "watermelon", "pineapple", "cat face", "lion face", "penguin",
    "octopus", "butterfly", "turtle", "sunflower", "cactus", "palm tree", "rainbow", "snowman",
    "airplane", "sailboat", "volcano", "guitar", "ghost", "robot face", "jack-o-lantern", "christmas tree",
    "hamburger", "slice of pizza", "crown", "pig face", "tiger face", "cherry blossom",
)
#: Visual-anagram pairs (prompt upright, prompt through the view, view name[, γ₁, γ₂[, β₁, β₂]]: each
#: prompt's CFG scale, missing or None: the course's one γ = 7; each prompt's negative scale, guiding it
#: away from the other prompt (:mod:`fundiff.negative_prompt`), missing: 0).  The first six read
#: both ways to the classifier by one of its two readings, each with its own controls
#: (data/emoji/README.md): top-1 with its turned class (a turned drawing reads as turned, not as the
#: emoji it resembles) or top-1 over the concepts alone.  Three were found by ``python -m
#: fundiff.emoji.quality search --kind flip|rot90`` (seeds 100-105) among :func:`lookalike_pairs`: a
#: pointed slice whose crust turns into a flame's round foot (both readings on the 18,111-step
#: weights, the concepts' reading after the fine-tune), a tooth on its side that is a cloud only
#: loosely (the judge's blind spot: a shipped tooth turned 90° is within MSE 0.015 of a shipped cloud,
#: so turned teeth are not in the turned class; over the concepts, plain teeth turned read as a
#: cloud: the turned class's reading only), and a slice upside down whose crust is a hull under a
#: triangular sail (over the concepts, plain sailboats turned back read as pizza: the turned class's
#: reading only).  The next three, chosen by :func:`silhouette_pairs` on the shipped pictures (and,
#: for the tent, on the fine-tuned model's drawings) and made drawable by the fine-tune
#: (``--extra-prompts``), read by the concepts with both controls at 0 %: a pear whose 180° turn is a
#: light bulb, a balloon whose flip is a red fruit on its stalk, an orange tent around a red blob whose
#: 180° turn is a balloon on its string (a tent only loosely; the turned class calls all three
#: "turned").  Then pairs an earlier classifier without that class passed (each one drawing turned
#: round: a wave, a pumpkin on its side, …), the course's own pair and an earlier hand-picked one,
#: which read as one prompt (the model draws templates).  Pizza ↔ fire has its own scales: at γ = 7
#: for both the fine-tuned model draws a pizza slice both ways; with the fire pushed harder (pizza 5,
#: fire 10, found on seeds 100-105 among unequal pairs of scales) a third of its samples are a
#: pepperoni pizza whose flip is a flame still spotted with pepperoni, and with the fire also guided
#: away from the pizza (β₂ = 3, pizza 6: seeds 100-105, then n = 20 on seeds 0 and 1) about 40 %.
ANAGRAM_PAIRS = (
    ("slice of pizza", "fire", "flip", 6.0, 10.0, 0.0, 3.0),
    ("cloud", "tooth", "rot90"),
    ("slice of pizza", "sailboat", "flip"),
    ("pear", "electric light bulb", "rot180"),
    ("balloon", "red apple", "flip"),
    ("tent", "balloon", "rot180"),
    ("dolphin", "water wave", "flip"),
    ("basketball and hoop", "jack-o-lantern", "rot90"),
    ("flamingo", "tokyo tower", "rot180"),
    ("an oil painting of an old man", "an oil painting of people around a campfire", "flip"),
    ("shamrock", "cactus", "rot90"),
    ("christmas tree", "pineapple", "flip"),
    ("mango", "strawberry", "rot90"),
    ("a rocket ship", "a pencil", "flip"),
)
#: Hybrid pairs (prompt seen from afar = low frequencies, prompt up close = high frequencies, far γ,
#: near γ, σ; None: the course's one γ = 7 and its Gaussian scaled to 32 px).  The tuned ones were
#: found on seeds 100-105 (settings from far-heavy to near-heavy, scratch sweeps; the later ones among
#: :func:`lowpass_pairs` of the concepts the model draws, on the 18,111-step weights; the fine-tuned
#: weights keep the settings): a ghost whose blur keeps the snowman's hat and body, a pale skull whose
#: eye sockets are fronds and whose nose is a trunk (from afar a palm tree), a pumpkin painted with a
#: tiger's stripes (after the fine-tune the near reader sees the tiger in 25 %), a pink ghost that
#: blurs into a pink blossom, a snowy mountain that blurs into a brown cone (to the eye a mountain both
#: ways: the blur loses the volcano's glow), a skull with a dog's brown ears whose blur is a face with
#: two brown eyes (after the fine-tune a skull to the near reader in 40 %); the lion faces whose blur
#: is a sunflower the near reader does not read as a lion.  Then two found among :func:`lowpass_pairs`
#: of the fine-tuned model's drawings: a golden crown whose points are orange flames, whose blur is a
#: fire; a pale skull with blue eye sockets whose blur is a blue dome over a pale stem (an umbrella,
#: loosely).
HYBRID_PAIRS = (
    ("snowman", "ghost", 5.0, 12.0, 2.5),
    ("palm tree", "skull", 3.0, 12.0, 2.0),
    ("jack-o-lantern", "tiger face", 3.0, 12.0, 2.0),
    ("cherry blossom", "ghost", 3.0, 12.0, 2.0),
    ("volcano", "snow-capped mountain", 5.0, 12.0, 2.5),
    ("dog face", "skull", 3.0, 12.0, 2.0),
    ("sunflower", "lion face", 3.0, 15.0, 2.25),
    ("fire", "crown", 3.0, 12.0, 1.5),
    ("umbrella", "skull", 5.0, 12.0, 2.5),
    ("a lithograph of a skull", "a lithograph of waterfalls", None, None, None),
    ("red apple", "cat face", None, None, None),
)
I_STARTS = (1, 3, 5, 7, 10, 20)

#: The prompts beyond DEMO_PROMPTS whose pictures the shipped model's training drew more often
#: (``--focus``; :func:`fundiff.emoji.train.focus_pictures`): those of the pairs measured then.
FOCUS_PROMPTS = ("snow-capped mountain", "water wave", "dog face", "fire", "older man")


@lru_cache(maxsize=1)
def concept_of_caption() -> dict[str, int]:
    """{caption: concept index} over every caption of the shipped subset (and the course prompts)."""
    d = load_subset()
    return {c: i for i, (n, s) in enumerate(zip(d["names"], d["short_names"])) for c in captions_of(str(n), str(s))}


def concept(prompt: str) -> int:
    """The concept index a prompt asks for; ValueError for a prompt that is no caption."""
    table = concept_of_caption()
    if prompt not in table:
        raise ValueError(f"{prompt!r} is not a caption of any concept the emoji model learned")
    return table[prompt]


def views(impl):
    """{name: (view, inverse)} of the anagram views: the implementation's ``guidance.VIEWS``
    ('flip', 'rot90', 'rot180', 'negate')."""
    return impl.guidance.VIEWS


def view_of(impl, name: str):
    """(view, inverse) of the view called ``name``; ValueError naming the views for any other name."""
    known = views(impl)
    if name not in known:
        raise ValueError(f"unknown anagram view {name!r}: expected one of {', '.join(map(repr, known))}")
    return known[name]


def cfg(model, prompt: str, impl, gamma: float, negative: str | None = None, beta: float = 0.0):
    """The CFG estimator of ``prompt`` against the null prompt (the implementation's); with ``beta`` > 0
    also guided away from the prompt ``negative`` by β (:func:`fundiff.negative_prompt.negative_cfg_estimator`)."""
    if not beta:
        return impl.guidance.cfg_estimator(model.estimator(prompt), model.estimator(model.null_prompt), gamma)
    if negative is None:
        raise ValueError(f"cfg of {prompt!r}: β = {beta:g} needs a negative prompt, got None")
    return negative_cfg_estimator(model.estimator(prompt), model.estimator(model.null_prompt),
                                  model.estimator(negative), gamma, beta)


def run(model, est, n: int, seed: int, impl) -> torch.Tensor:
    """n samples of estimator ``est`` with the Part A loop (990 … 0), clamped to [−1, 1]."""
    gen = torch.Generator().manual_seed(seed)
    x = impl.denoise.sample(est, (n, *model.image_shape), impl.denoise.strided_timesteps(), model.alphas_cumprod,
                            gen, device=model.device)
    return x.float().cpu().clamp(-1, 1)


_PLAIN: dict = {}


def plain_samples(model, prompt: str, n: int, seed: int, impl, gamma: float = 7.0, negative: str | None = None,
                  beta: float = 0.0) -> torch.Tensor:
    """:func:`run` of ``prompt``'s CFG estimator (:func:`cfg`): the controls' plain samples, kept for the
    process (a search reads many pairs that share prompts; the same arguments give the same samples)."""
    key = (id(model), prompt, n, seed, id(impl), gamma, negative if beta else None, beta)
    hit = _PLAIN.get(key)
    if hit is None or hit[0] is not model or hit[1] is not impl:
        hit = _PLAIN[key] = (model, impl, run(model, cfg(model, prompt, impl, gamma, negative, beta), n, seed, impl))
    return hit[2]


def anagram_settings(pair) -> dict:
    """The keyword arguments of :func:`anagram_reading` for a pair of :data:`ANAGRAM_PAIRS` (upright,
    through, view[, γ₁, γ₂[, β₁, β₂]]): its own scales, or the course's one γ = 7 and no negative
    prompt where missing or None."""
    g1, g2, b1, b2 = (tuple(pair[3:]) + (None,) * 4)[:4]
    return {"gamma": 7.0 if g1 is None else g1, "gamma2": g2, "beta": b1 or 0.0, "beta2": b2 or 0.0}


def hybrid_settings(pair) -> dict:
    """The keyword arguments of :func:`hybrid_reading` for a pair of :data:`HYBRID_PAIRS` (far, near,
    γ far, γ near, σ): its tuned settings, or the course's (γ = 7 for both, the scaled Gaussian) where None."""
    _, _, g_far, g_near, sigma = pair
    return {"gamma": 7.0 if g_far is None else g_far, "gamma_near": g_near, "sigma": sigma}


def share(hits: torch.Tensor) -> float:
    """The share of True in a (B,) bool tensor."""
    return float(hits.float().mean())


def pair_reads_first(x: torch.Tensor, c1: int, c2: int) -> torch.Tensor:
    """(B,) bool: the classifier's logit of concept c1 beats that of c2."""
    z = logits(x)
    return z[:, c1] > z[:, c2]


def prompt_samples(model, prompts=DEMO_PROMPTS, n: int = 10, gamma: float = 7.0, seed: int = 0,
                   impl=None) -> list[torch.Tensor]:
    """n CFG samples (n, C, H, W) of each prompt, prompt k on seed ``seed + k``."""
    impl = as_impl(impl)
    return [run(model, cfg(model, p, impl, gamma), n, seed + k, impl) for k, p in enumerate(prompts)]


def samples_accuracy(model, prompts=DEMO_PROMPTS, n: int = 10, gamma: float = 7.0, seed: int = 0, impl=None,
                     pictures: list[torch.Tensor] | None = None):
    """{prompt: share of n CFG samples read as the prompt's concept}, and the mean over prompts;
    ``pictures``: those samples, already made (:func:`prompt_samples` with the same arguments)."""
    xs = prompt_samples(model, prompts, n, gamma, seed, impl) if pictures is None else pictures
    out = {p: share(classify(x) == concept(p)) for p, x in zip(prompts, xs)}
    return {"per_prompt": out, "mean": sum(out.values()) / len(out), "n_per_prompt": n, "guidance_scale": gamma}


def anagram_reading(model, p1: str, p2: str, view: str, n: int = 20, gamma: float = 7.0, seed: int = 0,
                    impl=None, control: bool = True, gamma2: float | None = None, beta: float = 0.0,
                    beta2: float = 0.0) -> dict:
    """Shares of n anagrams read as p1 upright, as p2 through the view, and both (top-1 over every
    concept and "a turned picture"; ``*_concepts``: top-1 over the concepts alone, for a view that
    leaves a picture which looks like another drawing turned round, e.g. a pear upside down is a
    bulb; ``pair_*``: p1's logit against p2's only); the controls (unless ``control`` is False), with
    each reader: plain samples of p1 read as p2 through the same view (is the view alone enough?),
    and plain samples of p2 read as p1 through the inverse view (is the "anagram" just p2 turned
    round, a drawing the classifier misreads when turned?).  ``gamma`` is p1's CFG scale, ``gamma2``
    p2's (None: ``gamma``, the course's one scale); ``beta`` guides p1 away from p2 as a negative prompt,
    ``beta2`` p2 away from p1 (:func:`cfg`; 0: neither), in the anagram and in the controls' samples."""
    impl = as_impl(impl)
    f, inv = view_of(impl, view)
    g2 = gamma if gamma2 is None else gamma2
    est = impl.guidance.anagram_estimator(cfg(model, p1, impl, gamma, p2, beta), cfg(model, p2, impl, g2, p1, beta2),
                                          f, inv)
    x = run(model, est, n, seed, impl)
    c1, c2 = concept(p1), concept(p2)
    up, through = classify(x) == c1, classify(f(x)) == c2
    through_k = classify(f(x), turned=False) == c2
    pair_up, pair_through = pair_reads_first(x, c1, c2), pair_reads_first(f(x), c2, c1)
    plain = f(plain_samples(model, p1, n, seed + 1, impl, gamma, p2, beta)) if control else None
    turned = inv(plain_samples(model, p2, n, seed + 2, impl, g2, p1, beta2)) if control else None

    def control_share(pics, c, **kw):
        return None if pics is None else share(classify(pics, **kw) == c)

    return {"pair": [p1, p2, view], "gamma": [gamma, g2], "beta": [beta, beta2], "upright": share(up),
            "through_view": share(through), "both": share(up & through),
            "through_view_concepts": share(through_k), "both_concepts": share(up & through_k),
            "pair_upright": share(pair_up), "pair_through_view": share(pair_through),
            "pair_both": share(pair_up & pair_through),
            "control_plain_through_view": control_share(plain, c2),
            "control_plain_through_view_concepts": control_share(plain, c2, turned=False),
            "control_pair_through_view": None if plain is None else share(pair_reads_first(plain, c2, c1)),
            "control_p2_turned_back": control_share(turned, c1),
            "control_p2_turned_back_concepts": control_share(turned, c1, turned=False),
            "control_pair_p2_turned_back": None if turned is None else share(pair_reads_first(turned, c1, c2))}, x


def hybrid_reading(model, p_far: str, p_near: str, n: int = 20, gamma: float = 7.0, seed: int = 0, impl=None,
                   far_size: int = 8, control: bool = True, sigma: float | None = None,
                   gamma_near: float | None = None) -> dict:
    """Shares of n hybrids read as p_far when seen from afar (area-downsampled to ``far_size`` px and
    back; also a σ = 2 blur) by the classifier, and as p_near at full size by the near reader (by lines
    and shapes; ``near_colour``: by the classifier, which reads colours, the far prompt's by
    construction); each the top-1 over the concepts.  The controls: plain samples of p_near seen from
    afar read as p_far, and plain samples of p_far read up close as p_near.
    ``sigma``: the hybrid's Gaussian (kernel :func:`~fundiff.pictures.gaussian_kernel_size`); None: the estimator's default for the size.
    ``gamma`` is p_far's CFG scale, ``gamma_near`` p_near's (None: ``gamma``, the course's one scale)."""
    from .classifier import blur

    impl = as_impl(impl)
    kw = {} if sigma is None else {"kernel_size": gaussian_kernel_size(sigma), "sigma": sigma}
    g_near = gamma if gamma_near is None else gamma_near
    est = impl.guidance.hybrid_estimator(cfg(model, p_far, impl, gamma), cfg(model, p_near, impl, g_near), **kw)
    x = run(model, est, n, seed, impl)
    cf, cn = concept(p_far), concept(p_near)
    afar = down_up(x, far_size)

    def reads(pictures, c, path=CLASSIFIER_FILE):
        return classify(pictures, path, turned=False) == c

    far, near = reads(afar, cf), reads(x, cn, NEAR_READER_FILE)
    blurred = reads(blur(x, torch.full((n,), 2.0)), cf)
    pair_far, pair_near = pair_reads_first(afar, cf, cn), pair_reads_first(x, cn, cf)
    plain_near = down_up(plain_samples(model, p_near, n, seed + 1, impl, g_near), far_size) if control else None
    plain_far = plain_samples(model, p_far, n, seed + 2, impl, gamma) if control else None
    return {"pair": [p_far, p_near], "sigma": sigma, "gamma": [gamma, g_near], "far": share(far), "blurred": share(blurred),
            "near": share(near), "both": share(far & near), "near_colour": share(reads(x, cn)),
            "pair_far": share(pair_far), "pair_near": share(pair_near), "pair_both": share(pair_far & pair_near),
            "control_plain_near_from_afar": None if plain_near is None else share(reads(plain_near, cf)),
            "control_plain_far_up_close": None if plain_far is None else share(reads(plain_far, cn, NEAR_READER_FILE)),
            "control_pair_near_from_afar": None if plain_near is None else share(pair_reads_first(plain_near, cf, cn))}, x


#: (Sub)categories left out of :func:`lookalike_pairs`: the faces and people, which the classifier
#: tells apart by small details, so any two of them "look alike" through any view.
LOOKALIKE_SKIP = ("Smileys & Emotion", "person")
#: Candidates of the hybrid search (:func:`search_pairs` with kind 'hybrid'): concepts whose CFG
#: samples read as asked in ≥ 80 % (step 13,000), grouped by outline.
SEARCH_GROUPS = {
    "round": ("lion face", "tiger face", "jack-o-lantern", "skull", "hamburger", "red apple", "sunflower",
              "robot face"),
    "tall": ("christmas tree", "palm tree", "penguin", "cactus", "pencil", "guitar"),
}


def soft_readings(view=None) -> torch.Tensor:
    """R (K, K): R[a, b] = the classifier's mean probability of concept b over the shipped pictures of
    concept a seen through ``view`` (a function of (N, 3, 32, 32); None: as they are).  The K concepts
    only: a row sums to 1 less the mean probability of :data:`~fundiff.emoji.classifier.TURNED`."""
    from .classifier import pictures

    x, y, names = pictures()
    k = len(names)
    p = logits(x if view is None else view(x)).softmax(1)[:, :k]
    return torch.zeros(k, k).index_add_(0, y, p) / torch.bincount(y, minlength=k).clamp(min=1)[:, None]


def own_inverse(view, inverse) -> bool:
    """Whether a view is its own inverse (flip, rotate 180°, negate): then the anagram (b, a) is (a, b)
    turned round."""
    probe = torch.arange(16.0).view(1, 1, 4, 4)
    return torch.equal(view(probe), inverse(probe))


def lookalike_pairs(view_name: str, k: int = 40, impl=None, synonym: float = 0.05,
                    trivial: float = 0.5) -> list[tuple[str, str, str]]:
    """Anagram candidates (a, b, view_name): concepts whose shipped pictures look alike through the view,
    both ways round, best first:

        score(a, b) = min(R_v[a, b], R_v⁻¹[b, a]),   R_v = soft_readings(view), R_v⁻¹ = soft_readings(inverse)

    (a seen through the view reads a little as b, and b seen through the inverse a little as a).  Left
    out: pairs that read as each other as they are (R[a, b] + R[b, a] > ``synonym``: near-synonyms),
    pairs where a through the view already reads as b (R_v[a, b] > ``trivial``: mirror twins such as
    the waxing and waning moons, no trick needed), and the (sub)categories of :data:`LOOKALIKE_SKIP`.
    This is how illusion artists pick a pair: two things whose outlines already rhyme under the
    view; the trick has to do the rest."""
    impl = as_impl(impl)
    f, inv = view_of(impl, view_name)
    d = load_subset()
    names = [str(n) for n in d["names"]]
    r0, rv, rinv = soft_readings(), soft_readings(f), soft_readings(inv)
    score = torch.minimum(rv, rinv.T)
    keep = torch.tensor([str(c) not in LOOKALIKE_SKIP and str(s) not in LOOKALIKE_SKIP
                         for c, s in zip(d["categories"], d["subcategories"])])
    score[~keep] = 0
    score[:, ~keep] = 0
    score[((r0 + r0.T) > synonym) | (rv > trivial)] = 0
    score.fill_diagonal_(0)
    if own_inverse(f, inv):  # (b, a) is (a, b) turned round
        score = torch.minimum(score, score.T).triu(1)
    vals, idx = score.flatten().topk(k)
    return [(names[i // len(names)], names[i % len(names)], view_name) for v, i in zip(vals.tolist(), idx.tolist()) if v > 0]


#: First seed of :func:`drawings` (concept k on seed DRAWINGS_SEED + k): apart from the seeds the
#: measurements (0 …) and the searches (100 …) use.
DRAWINGS_SEED = 500


def drawings(model, n: int = 2, seed: int = DRAWINGS_SEED, impl=None, progress: bool = False) -> torch.Tensor:
    """(K, n, 3, 32, 32): n plain CFG samples (γ = 7) of every concept's name, concept k on seed
    ``seed + k``, at the classifier's size: what the model draws for each prompt.  It draws one
    template per prompt, so n = 2 shows it; the K concepts take about 35 core-minutes."""
    from tqdm import tqdm

    impl = as_impl(impl)
    names = [str(c) for c in load_subset()["names"]]
    return torch.stack([at_classifier_size(run(model, cfg(model, c, impl, 7.0), n, seed + k, impl))
                        for k, c in enumerate(tqdm(names, desc="drawings", disable=not progress))])


def check_drawings(d) -> torch.Tensor:
    """``d`` itself if it is (K, n, 3, 32, 32) with K the concepts the model learned; ValueError otherwise."""
    k = len(load_subset()["names"])
    if not isinstance(d, torch.Tensor) or d.ndim != 5 or d.shape[0] != k or tuple(d.shape[2:]) != (3, 32, 32):
        raise ValueError(f"expected drawings of shape ({k}, n, 3, 32, 32) (python -m fundiff.emoji.quality "
                         f"drawings), got {tuple(d.shape) if isinstance(d, torch.Tensor) else type(d).__name__}")
    return d.float()


def drawable(d: torch.Tensor) -> torch.Tensor:
    """(K,) bool: the concepts all of whose drawings ``d`` (:func:`drawings`) read as the concept (top-1).
    Only these can carry a trick: at step 18,111, 44 of the 496 (the demo's prompts, most of them);
    after the fine-tune on ten shapes for anagrams, 58."""
    d = check_drawings(d)
    k, n = d.shape[:2]
    return (classify(d.flatten(0, 1)) == torch.arange(k).repeat_interleave(n)).view(k, n).all(1)


def lowpass_pairs(d: torch.Tensor, sigma: float = 2.5, k: int = 40, control: float = 0.2) -> list[tuple[str, str]]:
    """Hybrid candidates (far a, near b) among :func:`drawable` concepts whose mean drawings d̄ agree at
    low frequencies, best first:

        score(a, b) = mean over pixels of (G_σ * d̄_a − G_σ * d̄_b)²      (smallest first)

    so that the near prompt's details can sit on the far prompt's blur.  Left out: pairs whose plain
    drawings pass a hybrid's controls (b's seen from afar read as a by the classifier, or a's up close
    as b by the near reader, with mean probability > ``control``), and faces from afar
    (:data:`LOOKALIKE_SKIP`: a face blurred is any round yellow thing)."""
    import torchvision.transforms.functional as TF

    d = check_drawings(d)
    sub = load_subset()
    names = [str(c) for c in sub["names"]]
    ids = drawable(d).nonzero().flatten()
    face = torch.tensor([str(sub["categories"][i]) in LOOKALIKE_SKIP or str(sub["subcategories"][i]) in LOOKALIKE_SKIP
                         for i in ids.tolist()], dtype=torch.bool)
    m, n = len(ids), d.shape[1]
    flat = d[ids].flatten(0, 1)
    low = TF.gaussian_blur(flat, gaussian_kernel_size(sigma), sigma).view(m, n, -1).mean(1)
    score = torch.cdist(low, low) ** 2 / low.shape[1]
    afar = logits(down_up(flat, 8)).softmax(1).view(m, n, -1).mean(1)[:, ids]          # [b, a]
    close = logits(flat, NEAR_READER_FILE).softmax(1).view(m, n, -1).mean(1)[:, ids]   # [a, b]
    bad = (afar.T > control) | (close > control) | torch.eye(m, dtype=torch.bool) | face[:, None]
    score[bad] = float("inf")
    vals, order = score.flatten().topk(min(k, score.numel()), largest=False)
    return [(names[ids[i // m]], names[ids[i % m]]) for v, i in zip(vals.tolist(), order.tolist()) if v < float("inf")]


def silhouette(x: torch.Tensor) -> torch.Tensor:
    """(B, H, W) float: the drawn pixels of pictures x (B, 3, H, W) on white (some channel below 0.75)."""
    return ((1 - x).amax(1) > 0.25).float()


def silhouette_iou(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(A, B): IoU of the silhouettes of x (A, n, 3, H, W) and y (B, n, 3, H, W), the best over their
    n × n pairs of drawings."""
    (na, n), nb = x.shape[:2], y.shape[0]
    a, b = silhouette(x.flatten(0, 1)).flatten(1), silhouette(y.flatten(0, 1)).flatten(1)
    inter = a @ b.T
    iou = inter / (a.sum(1)[:, None] + b.sum(1)[None] - inter).clamp(min=1)
    return iou.view(na, n, nb, y.shape[1]).amax((1, 3))


def silhouette_pairs(d: torch.Tensor, view_name: str, k: int = 40, impl=None) -> list[tuple[str, str, str]]:
    """Anagram candidates (a, b, view_name) among :func:`drawable` concepts whose outlines rhyme
    *because of* the view, best first:

        score(a, b) = IoU(view(d_a), d_b) − IoU(d_a, d_b)      (:func:`silhouette_iou`)

    The view has to do the work: round things overlap each other at any turn (and superimposed they
    read as neither), while a slice of pizza upside down takes a flame's outline (pizza ↔ fire and
    pizza ↔ sailboat, found before, rank 6th and 7th of the flip pairs at step 18,111).  Left out: pairs where a
    drawing of a through the view already reads as b, or one of b through the inverse as a (the
    anagram's controls).  For a view that is its own inverse, (a, b) and (b, a) are one trick turned
    round: listed once."""
    impl = as_impl(impl)
    f, inv = view_of(impl, view_name)
    d = check_drawings(d)
    names = [str(c) for c in load_subset()["names"]]
    ids = drawable(d).nonzero().flatten()
    x = d[ids]
    m, n = x.shape[:2]
    turned = f(x.flatten(0, 1)).view(x.shape)
    score = silhouette_iou(turned, x) - silhouette_iou(x, x)
    through, back = classify(turned.flatten(0, 1)).view(m, n), classify(inv(x.flatten(0, 1))).view(m, n)
    seen_as = (through[:, :, None] == ids).any(1) | (back[:, :, None] == ids).any(1).T  # [a, b]
    score[seen_as | torch.eye(m, dtype=torch.bool)] = -2
    if own_inverse(f, inv):  # (b, a) is (a, b) turned round, the same trick: keep a < b, the worse of the two
        upper = torch.ones(m, m, dtype=torch.bool).triu(1)
        score = torch.where(upper, torch.minimum(score, score.T), torch.full_like(score, -2))
    vals, order = score.flatten().topk(min(k, score.numel()))
    return [(names[ids[i // m]], names[ids[i % m]], view_name) for v, i in zip(vals.tolist(), order.tolist()) if v > -2]


def search_pairs(model, kind: str, n: int = 6, seed: int = 100, pairs=None, k: int = 40, skip: int = 0, impl=None,
                 log=print, settings: dict | None = None) -> list[dict]:
    """Try candidate pairs as anagrams (``kind`` a view of :func:`views`: the ``k`` best of
    :func:`lookalike_pairs` after the ``skip`` best) or as hybrids (``kind`` 'hybrid': every ordered
    pair within each group of :data:`SEARCH_GROUPS`), ``n`` samples each on seeds from ``seed`` (keep them apart from the seeds a
    final measurement uses), with the controls; sorted by :func:`margin` (then pairwise 'pair_both').
    ``pairs``: the candidates instead ((a, b) or (a, b, view)).  ``settings``: keyword arguments of the
    reading (``gamma``; for anagrams also ``gamma2``, ``beta`` and ``beta2``, for hybrids ``gamma_near``
    and ``sigma``), e.g. a tuned pair's."""
    if pairs is None:
        if kind == "hybrid":
            pairs = [(a, b) for g in SEARCH_GROUPS.values() for a in g for b in g if a != b]
        else:
            pairs = lookalike_pairs(kind, k=k + skip, impl=impl)[skip:]
    out = []
    for pair in pairs:
        if kind == "hybrid":
            r, _ = hybrid_reading(model, *pair[:2], n=n, seed=seed, impl=impl, **(settings or {}))
        else:
            r, _ = anagram_reading(model, *pair[:2], pair[2] if len(pair) > 2 else kind, n=n, seed=seed, impl=impl,
                                   **(settings or {}))
        log(json.dumps(r))
        out.append(r)
    return sorted(out, key=lambda r: (-margin(r), -r["pair_both"]))


def margin(r: dict) -> float:
    """How much better than its controls a trick reads: the top-1 'both' share less the largest top-1
    control share of the reading ``r`` (:func:`anagram_reading` or :func:`hybrid_reading`); for an
    anagram read both ways, the better of that and the same over the concepts alone ('both_concepts'
    less the largest '*_concepts' control)."""
    def best(both: str, is_control) -> float:
        controls = [v for k, v in r.items() if k.startswith("control_") and is_control(k) and v is not None]
        return r[both] - max(controls, default=0.0)

    top1 = best("both", lambda k: "pair" not in k and not k.endswith("_concepts"))
    return max(top1, best("both_concepts", lambda k: k.endswith("_concepts"))) if "both_concepts" in r else top1


def sdedit_reading(model, image, prompt: str = "a rocket ship", i_starts=I_STARTS, n: int = 10, gamma: float = 7.0,
                   seed: int = 0, impl=None) -> dict:
    """{i_start: share of n SDEdits of ``image`` (1, 3, 32, 32) read as ``prompt``}, and the edits."""
    impl = as_impl(impl)
    out, xs = {}, []
    for i in i_starts:
        gen = torch.Generator().manual_seed(seed + i)
        x = impl.guidance.sdedit(image.expand(n, -1, -1, -1).to(model.device), cfg(model, prompt, impl, gamma),
                                 impl.denoise.strided_timesteps(), i, model.alphas_cumprod, gen)
        x = x.float().cpu().clamp(-1, 1)
        out[i] = share(classify(x) == concept(prompt))
        xs.append(x)
    return {"prompt": prompt, "read_as_prompt": out, "n": n}, torch.stack(xs)


#: The quality command's settings beyond ``--gamma``: an anagram's (prompt 2's CFG scale, each prompt's
#: negative scale) and a hybrid's; each is refused with the other kind of trick, which would ignore it.
ANAGRAM_SETTINGS = ("gamma2", "beta", "beta2")
HYBRID_SETTINGS = ("gamma_near", "sigma")


def main(argv=None) -> int:
    from ..models import load_pretrained

    p = argparse.ArgumentParser(prog="python -m fundiff.emoji.quality")
    p.add_argument("what", choices=["samples", "anagrams", "hybrids", "sdedit", "search", "drawings"])
    p.add_argument("--kind", default="flip", choices=["flip", "rot90", "rot180", "negate", "hybrid"],
                   help="search: the view of the anagrams searched, or 'hybrid'")
    p.add_argument("--k", type=int, default=40, help="search: how many lookalike pairs to try (anagram views)")
    p.add_argument("--skip", type=int, default=0, help="search: leave out the SKIP best lookalike pairs (tried before)")
    p.add_argument("--n", type=int, default=None, help="samples per prompt / pair (default 10 / 20)")
    p.add_argument("--seed", type=int, default=None, help="first seed (default 0; search: 100, apart from the others)")
    p.add_argument("--sigma", type=float, default=None,
                   help="hybrids (and search --kind hybrid): the Gaussian's σ (default: the pair's in HYBRID_PAIRS, "
                   "else the course's, scaled)")
    p.add_argument("--gamma-near", type=float, default=None,
                   help="hybrids (and search --kind hybrid): the near prompt's CFG scale (default: the pair's, else "
                   "the far one's)")
    p.add_argument("--gamma", type=float, default=None,
                   help="the CFG scale, default 7 (hybrids: the far prompt's, anagrams: the upright prompt's; "
                   "default: the pair's, else 7)")
    p.add_argument("--gamma2", type=float, default=None,
                   help="anagrams (and an anagram search): the CFG scale of the prompt seen through the view "
                   "(default: the pair's, else --gamma)")
    p.add_argument("--beta", type=float, default=None,
                   help="anagrams (and an anagram search): guide the upright prompt away from the other one by β "
                   "(a negative prompt, fundiff.negative_prompt; default: the pair's, else 0)")
    p.add_argument("--beta2", type=float, default=None,
                   help="anagrams (and an anagram search): guide the prompt seen through the view away from the "
                   "upright one by β (default: the pair's, else 0)")
    p.add_argument("--pairs", default=None, help="hybrids: 'FAR|NEAR;FAR|NEAR' instead of HYBRID_PAIRS; "
                   "search: the candidates ('UPRIGHT|THROUGH[|VIEW];…' for a view, 'FAR|NEAR;…' for --kind hybrid)")
    p.add_argument("--drawings", default=None, help="search: take the candidates among the concepts these "
                   "drawings (the 'drawings' command's file) show the model draws: silhouette_pairs / lowpass_pairs")
    p.add_argument("--out", default=None, help="drawings: the safetensors file to write")
    p.add_argument("--impl", default=None)
    p.add_argument("--path", default=None, help="a model folder (default data/emoji)")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--grid", default=None, help="write the pictures as a PNG grid here")
    a = p.parse_args(argv)
    anagram_search = a.what == "search" and a.kind != "hybrid"
    if a.pairs and anagram_search:
        parts = [pair.split("|") for pair in a.pairs.split(";")]
        if any(len(q) not in (2, 3) or (len(q) == 3 and q[2] not in ("flip", "rot90", "rot180", "negate"))
               for q in parts):
            p.error(f"--pairs {a.pairs!r}: expected 'UPRIGHT|THROUGH[|VIEW]' pairs separated by ';' "
                    f"(VIEW one of flip, rot90, rot180, negate; default --kind)")
    elif a.pairs and any(len(pair.split("|")) != 2 for pair in a.pairs.split(";")):
        p.error(f"--pairs {a.pairs!r}: expected 'FAR|NEAR' pairs separated by ';'")
    if a.pairs:
        unknown = [x for pair in a.pairs.split(";") for x in pair.split("|")[:2] if x not in concept_of_caption()]
        if unknown:
            p.error(f"--pairs: {', '.join(map(repr, unknown))} not among the captions of the emoji the model learned")
    if a.skip < 0:
        p.error(f"--skip {a.skip}: expected an integer ≥ 0")
    for name in ("n", "k"):
        if getattr(a, name) is not None and getattr(a, name) < 1:
            p.error(f"--{name} {getattr(a, name)}: expected a positive integer")
    given = {k: getattr(a, k) for k in ("gamma", *ANAGRAM_SETTINGS, *HYBRID_SETTINGS) if getattr(a, k) is not None}
    for name, v in given.items():
        if not (math.isfinite(v) and v >= 0 and (name != "sigma" or v > 0)):
            p.error(f"--{name.replace('_', '-')} {v}: expected a finite number ≥ 0 (σ > 0)")
    hybrid_run = a.what == "hybrids" or (a.what == "search" and a.kind == "hybrid")
    if set(HYBRID_SETTINGS) & set(given) and not hybrid_run:
        p.error("--gamma-near and --sigma are a hybrid's settings: expected them with hybrids or search --kind hybrid")
    for name in ANAGRAM_SETTINGS:
        if name in given and not (anagram_search or a.what == "anagrams"):
            p.error(f"--{name} is an anagram's setting: expected it with anagrams or an anagram search")
    if a.what == "drawings" and not a.out:
        p.error("drawings: expected --out FILE.safetensors (where to write the drawings)")
    drawn = None
    if a.drawings:
        if a.what != "search" or a.pairs:
            p.error("--drawings: only for search, without --pairs (it chooses the candidates)")
        try:
            from safetensors.torch import load_file

            drawn = check_drawings(load_file(a.drawings)["drawings"])
        except Exception as e:  # a missing, torn or foreign file: say what was expected
            p.error(f"--drawings {a.drawings}: expected the 'drawings' command's safetensors file ({e})")
    seed = 0 if a.seed is None else a.seed
    gamma = 7.0 if a.gamma is None else a.gamma
    model = load_pretrained("emoji", **({"path": a.path} if a.path else {}))
    pics = []
    if a.what == "samples":
        pics = prompt_samples(model, n=a.n or 10, gamma=gamma, seed=seed, impl=a.impl)
        res = samples_accuracy(model, n=a.n or 10, gamma=gamma, seed=seed, impl=a.impl, pictures=pics)
    elif a.what == "drawings":
        from ..checkpoint import save_atomic

        first = DRAWINGS_SEED if a.seed is None else a.seed
        x = drawings(model, n=a.n or 2, seed=first, impl=a.impl, progress=True)
        save_atomic({"drawings": x.half().contiguous()}, a.out, {"seed": str(first)})
        ok = drawable(x)
        names = [str(c) for c in load_subset()["names"]]
        res = {"drawable": int(ok.sum()), "of": len(ok), "concepts": [c for c, y in zip(names, ok.tolist()) if y]}
    elif a.what == "search":
        pairs = [tuple(pair.split("|")) for pair in a.pairs.split(";")] if a.pairs else None
        if drawn is not None:
            pairs = (lowpass_pairs(drawn, k=a.k + a.skip) if a.kind == "hybrid"
                     else silhouette_pairs(drawn, a.kind, k=a.k + a.skip, impl=a.impl))[a.skip:]
        res = search_pairs(model, a.kind, n=a.n or 6, seed=100 if a.seed is None else a.seed, pairs=pairs, k=a.k,
                           skip=a.skip, impl=a.impl, settings=given)
    elif a.what == "anagrams":
        res = []
        for pair in ANAGRAM_PAIRS:
            kw = anagram_settings(pair)  # the pair's scales, each replaced by the one given
            kw |= {k: v for k, v in given.items() if k in kw}
            r, x = anagram_reading(model, *pair[:3], n=a.n or 20, seed=seed, impl=a.impl, **kw)
            res.append(r)
            pics.append(x)
            print(json.dumps(r), flush=True)
    elif a.what == "hybrids":
        res = []
        pairs = [(*pair.split("|"), None, None, None) for pair in a.pairs.split(";")] if a.pairs else HYBRID_PAIRS
        for pair in pairs:
            kw = {**hybrid_settings(pair), **given}
            r, x = hybrid_reading(model, *pair[:2], n=a.n or 20, seed=seed, impl=a.impl, **kw)
            res.append(r)
            pics.append(x)
            print(json.dumps(r), flush=True)
    else:
        from .images import IMAGES_DIR

        res, x = sdedit_reading(model, model.load_image(IMAGES_DIR / "photo_temple.png"), n=a.n or 10,
                                gamma=gamma, seed=seed, impl=a.impl)
        pics = list(x)
    print(json.dumps(res, indent=1))
    if a.json:
        from pathlib import Path

        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    if a.grid and pics:
        from torchvision.utils import save_image

        rows = [x[:10] for x in pics]
        save_image(torch.cat(rows), a.grid, nrow=10, normalize=True, value_range=(-1, 1), padding=1, pad_value=0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
