"""The emoji model's quality metric (fundiff.emoji.quality, fundiff.emoji.classifier): the test
pictures, the classifier, the readings of samples, anagrams and hybrids, and the search for pairs.

Ungraded tests of the package itself."""
from __future__ import annotations

import json
import re

import pytest
import torch

from fundiff.emoji import concepts


# ----------------------------------------------------------------------------------------------
# Test pictures and the classifier
# ----------------------------------------------------------------------------------------------
def test_test_pictures_are_shipped_and_load_as_rgb():
    from fundiff.emoji.images import IMAGES_DIR
    from fundiff.models.base import PretrainedModel

    m = PretrainedModel("probe", torch.ones(1000) * 0.5, (3, 32, 32))
    for name in ("photo_temple", "web_flower", "sketch_apple", "sketch_sun", "sketch_house"):
        x = m.load_image(IMAGES_DIR / f"{name}.png")
        assert x.shape == (1, 3, 32, 32) and -1 <= x.min() and x.max() <= 1
        assert (x[0, 0] - x[0, 1]).abs().mean() > 0.02, f"{name} should be a colour picture"


@pytest.mark.skipif(not (concepts.EMOJI_DIR / "classifier.safetensors").is_file(), reason="classifier not trained")
def test_classifier_reads_the_pictures_it_learned():
    from fundiff.emoji import classifier

    x, y, names = classifier.pictures()
    assert (classifier.classify(x) == y).float().mean() > 0.9
    with pytest.raises(ValueError, match=r"\(B, 3, 32, 32\)"):
        classifier.classify(torch.zeros(1, 1, 28, 28))


def test_turned_pictures_leave_out_what_looks_upright():
    """the TURNED class holds every turn of an asymmetric picture, none of a picture every turn leaves as it is"""
    from fundiff.emoji import classifier

    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    disc = torch.where((yy - 15.5) ** 2 + (xx - 15.5) ** 2 < 100, 1.0, -1.0).expand(3, -1, -1)
    corner = -torch.ones(3, 32, 32)
    corner[:, :8, :8] = 1
    t = classifier.turned_pictures(torch.stack([disc, corner]))
    assert t.shape == (len(classifier.TURNS), 3, 32, 32)
    assert not any(torch.equal(u, disc) or torch.equal(u, corner) for u in t)


@pytest.mark.skipif(not (concepts.EMOJI_DIR / "classifier.safetensors").is_file(), reason="classifier not trained")
def test_classifier_reads_turned_pictures_as_turned_not_as_other_emoji():
    """a wave upside down is a turned picture, not the emoji it resembles most (the anagram judge)"""
    from fundiff.emoji import classifier

    _, names = classifier.load_classifier()
    assert names[-1] == classifier.TURNED
    x, y, _ = classifier.pictures()
    t = classifier.turned_pictures(x[::3])
    read = classifier.classify(t)
    assert float((read == len(names) - 1).float().mean()) > 0.8
    assert float((classifier.classify(x) == len(names) - 1).float().mean()) < 0.02


@pytest.mark.skipif(not (concepts.EMOJI_DIR / "classifier_near.safetensors").is_file(), reason="near reader not trained")
def test_the_near_reader_reads_shapes_and_the_classifier_reads_from_afar():
    """the two readers of a hybrid: the near reader reads grey and recoloured pictures (lines and shapes)
    but not blurred ones; the classifier reads blurred ones (from afar) but not recoloured ones"""
    from fundiff.emoji import classifier

    x, y, _ = classifier.pictures()
    x, y = x[::2], y[::2]
    grey, recoloured = x.mean(1, keepdim=True).expand_as(x), x[:, [2, 0, 1]]
    blurred = classifier.blur(x, torch.full((len(x),), 2.0))

    def acc(pictures, path):
        return float((classifier.classify(pictures, path, turned=False) == y).float().mean())

    near, far = classifier.NEAR_READER_FILE, classifier.CLASSIFIER_FILE
    assert min(acc(x, near), acc(grey, near), acc(recoloured, near)) > 0.9 and acc(blurred, near) < 0.5
    assert min(acc(x, far), acc(blurred, far)) > 0.9 and max(acc(grey, far), acc(recoloured, far)) < 0.5


def test_the_demos_tricks_are_the_measured_pairs():
    """the emoji demo's anagram and tuned hybrid rows are pairs of the quality metric, with the same view
    and settings, so the page shows what data/emoji/README.md measured"""
    from fundiff.demo.part_a.setup import PLANS
    from fundiff.emoji.quality import ANAGRAM_PAIRS, HYBRID_PAIRS

    plan = PLANS["emoji"]
    for p1, p2, *rest in plan["anagrams"]:
        row = (p1, p2, rest[0] if rest else "flip", *rest[1:])
        assert row in ANAGRAM_PAIRS, row
    for row in plan["hybrids"]:
        assert tuple(row) + (None,) * (5 - len(row)) in HYBRID_PAIRS, row


def test_the_quality_views_invert():
    """every anagram view of the quality run maps back with its inverse (rot90 needs rotate270)"""
    from fundiff.emoji import quality

    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for name, (view, inverse) in quality.views(quality.as_impl("solutions")).items():
        assert not torch.equal(view(x), x), name
        assert torch.equal(inverse(view(x)), x), name
    with pytest.raises(ValueError, match=r"unknown anagram view 'rotate90': expected one of .*'rot90'"):
        quality.view_of(quality.as_impl("solutions"), "rotate90")


@pytest.mark.skipif(not (concepts.EMOJI_DIR / "classifier.safetensors").is_file(), reason="classifier not trained")
def test_lookalike_pairs_rhyme_through_the_view_and_are_no_synonyms_twins_or_faces():
    """lookalike_pairs ranks pairs by min(R_v[a, b], R_v⁻¹[b, a]) and leaves out near-synonyms, mirror
    twins and faces; soft_readings' rows are the concepts' shares (the rest: a turned picture), upright
    pictures hardly read as turned and turned ones mostly do"""
    from fundiff.emoji import quality
    from fundiff.emoji.classifier import load_classifier

    impl = quality.as_impl("solutions")
    view, inverse = quality.views(impl)["rot90"]
    r0, rv, rinv = quality.soft_readings(), quality.soft_readings(view), quality.soft_readings(inverse)
    assert float(r0.sum(1).max()) <= 1 + 1e-4 and float(r0.sum(1).mean()) > 0.9
    assert float(rv.sum(1).mean()) < 0.5
    assert float(r0.diagonal().mean()) > 0.6 and float(rv.diagonal().mean()) < float(r0.diagonal().mean())
    _, names = load_classifier()
    idx = {n: i for i, n in enumerate(names)}
    d = concepts.load_subset()
    pairs = quality.lookalike_pairs("rot90", k=12, impl=impl)
    assert len(pairs) == 12 and all(v == "rot90" for *_, v in pairs)
    scores = []
    for a, b, _ in pairs:
        i, j = idx[a], idx[b]
        assert i != j and r0[i, j] + r0[j, i] <= 0.05 and rv[i, j] <= 0.5, (a, b)
        for c in (i, j):
            assert {str(d["categories"][c]), str(d["subcategories"][c])}.isdisjoint(quality.LOOKALIKE_SKIP), (a, b)
        scores.append(float(torch.minimum(rv[i, j], rinv[j, i])))
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0
    flips = quality.lookalike_pairs("flip", k=12, impl=impl)  # its own inverse: (b, a) is (a, b) turned round
    assert len(flips) == 12 and not {(a, b) for a, b, _ in flips} & {(b, a) for a, b, _ in flips}


@pytest.mark.parametrize("args, msg", [
    (["hybrids", "--pairs", "sunflower|lion face|x"], r"--pairs .*expected 'FAR\|NEAR' pairs"),
    (["hybrids", "--sigma", "0"], r"--sigma 0.0: expected a finite number"),
    (["hybrids", "--gamma-near", "nan"], r"--gamma-near nan: expected a finite number"),
    (["search", "--k", "0"], r"--k 0: expected a positive integer"),
    (["search", "--skip", "-1"], r"--skip -1: expected an integer ≥ 0"),
    (["samples", "--n", "-1"], r"--n -1: expected a positive integer"),
    (["search", "--pairs", "crown|jellyfish|upside"], r"expected 'UPRIGHT\|THROUGH\[\|VIEW\]' pairs"),
    (["search", "--kind", "hybrid", "--pairs", "crown|jellyfish|flip"], r"expected 'FAR\|NEAR' pairs"),
    (["search", "--pairs", "crown|jelly fish"], r"'jelly fish' not among the captions"),
    (["drawings"], r"drawings: expected --out FILE.safetensors"),
    (["search", "--drawings", "no/such/file.safetensors"],
     r"--drawings no/such/file.safetensors: expected the 'drawings' command's safetensors file"),
    (["anagrams", "--drawings", "x.safetensors"], r"--drawings: only for search, without --pairs"),
    (["search", "--kind", "flip", "--sigma", "2"], r"--gamma-near and --sigma are a hybrid's settings"),
    (["hybrids", "--gamma2", "10"], r"--gamma2 is an anagram's setting"),
    (["search", "--kind", "hybrid", "--gamma2", "10"], r"--gamma2 is an anagram's setting"),
    (["anagrams", "--gamma2", "-1"], r"--gamma2 -1.0: expected a finite number"),
    (["hybrids", "--beta2", "3"], r"--beta2 is an anagram's setting"),
    (["samples", "--beta", "3"], r"--beta is an anagram's setting"),
    (["search", "--kind", "hybrid", "--beta", "1"], r"--beta is an anagram's setting"),
    (["anagrams", "--beta2", "nan"], r"--beta2 nan: expected a finite number"),
    (["anagrams", "--sigma", "2"], r"--gamma-near and --sigma are a hybrid's settings"),
    (["samples", "--gamma-near", "12"], r"--gamma-near and --sigma are a hybrid's settings"),
])
def test_quality_command_refuses_bad_arguments(args, msg, capsys):
    from fundiff.emoji import quality

    with pytest.raises(SystemExit) as e:
        quality.main(args)
    assert e.value.code == 2
    assert re.search(msg, capsys.readouterr().err)


def test_margin_subtracts_the_largest_top1_control():
    """the search ranks a trick by 'both' less its largest top-1 control (or, read over the concepts
    alone, by 'both_concepts' less the largest of those controls); pairwise controls do not count"""
    from fundiff.emoji.quality import margin

    r = {"both": 0.9, "control_plain_through_view": 0.1, "control_pair_through_view": 0.9,
         "control_p2_turned_back": 0.5, "control_pair_p2_turned_back": 1.0}
    assert margin(r) == pytest.approx(0.4)
    assert margin({"both": 0.5, "control_plain_near_from_afar": None}) == 0.5
    # read over the concepts alone too: the better of the two readings, each less its own controls
    r |= {"both_concepts": 1.0, "control_plain_through_view_concepts": 0.0, "control_p2_turned_back_concepts": 0.2}
    assert margin(r) == pytest.approx(0.8)
    r["control_p2_turned_back_concepts"] = 0.9
    assert margin(r) == pytest.approx(0.4)


# ----------------------------------------------------------------------------------------------
# Candidates among what the model draws (drawings, drawable, lowpass_pairs, silhouette_pairs)
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped_drawings():
    """Stand-in drawings (K, 2, 3, 32, 32): each concept's first and last shipped picture, except three
    concepts drawn as blank white (which the model 'cannot draw')."""
    from fundiff.emoji.classifier import pictures

    x, y, names = pictures()
    d = torch.stack([torch.stack([x[(y == k).nonzero()[0, 0]], x[(y == k).nonzero()[-1, 0]]]) for k in range(len(names))])
    blank = [names.index(c) for c in ("snowman", "fire", "skull")]
    d[blank] = 1.0
    return d, names, blank


@pytest.mark.skipif(not (concepts.EMOJI_DIR / "classifier.safetensors").is_file(), reason="classifier not trained")
def test_drawable_concepts_are_those_whose_drawings_read_as_asked(shipped_drawings):
    from fundiff.emoji import quality

    d, names, blank = shipped_drawings
    ok = quality.drawable(d)
    assert ok.dtype == torch.bool and ok.shape == (len(names),)
    assert not ok[blank].any() and float(ok.float().mean()) > 0.9
    with pytest.raises(ValueError, match=r"expected drawings of shape \(496, n, 3, 32, 32\)"):
        quality.drawable(d[:10])


@pytest.mark.skipif(not (concepts.EMOJI_DIR / "classifier.safetensors").is_file(), reason="classifier not trained")
def test_lowpass_pairs_agree_when_blurred_among_drawable_concepts(shipped_drawings):
    """hybrid candidates: drawable concepts only, no faces from afar, ranked by the MSE of their blurs
    (smallest first), and none whose plain drawings pass the hybrid's controls"""
    import torchvision.transforms.functional as TF

    from fundiff.emoji import quality
    from fundiff.emoji.classifier import NEAR_READER_FILE, down_up, logits

    d, names, blank = shipped_drawings
    sub = concepts.load_subset()
    pairs = quality.lowpass_pairs(d, sigma=2.5, k=15)
    assert len(pairs) == 15 and all(a != b for a, b in pairs)
    ok = quality.drawable(d)
    low = TF.gaussian_blur(d.flatten(0, 1), 17, 2.5).view(len(names), 2, -1).mean(1)
    scores = []
    for a, b in pairs:
        i, j = names.index(a), names.index(b)
        assert ok[i] and ok[j] and i not in blank and j not in blank
        assert {str(sub["categories"][i]), str(sub["subcategories"][i])}.isdisjoint(quality.LOOKALIKE_SKIP)
        assert float(logits(down_up(d[j], 8)).softmax(1)[:, i].mean()) <= 0.2 + 1e-6
        assert float(logits(d[i], NEAR_READER_FILE).softmax(1)[:, j].mean()) <= 0.2 + 1e-6
        scores.append(float(((low[i] - low[j]) ** 2).mean()))
    assert scores == sorted(scores)


@pytest.mark.skipif(not (concepts.EMOJI_DIR / "classifier.safetensors").is_file(), reason="classifier not trained")
def test_silhouette_pairs_rhyme_because_of_the_view(shipped_drawings):
    """anagram candidates: drawable concepts whose outlines overlap through the view more than as they
    are (IoU gain over the drawings' best match, largest first, above a typical pair's); a flip pair
    listed once; none that the view alone reads as the other"""
    from fundiff.emoji import quality
    from fundiff.emoji.classifier import classify

    d, names, blank = shipped_drawings
    impl = quality.as_impl("solutions")
    flip, _ = quality.view_of(impl, "flip")

    def iou(x, y):  # max over drawings p, q of IoU(silhouette(x_p), silhouette(y_q))
        a, b = quality.silhouette(x)[:, None], quality.silhouette(y)[None]
        return float(((a * b).sum((2, 3)) / torch.maximum(a, b).sum((2, 3))).max())

    def gain(i, j):
        return iou(flip(d[i]), d[j]) - iou(d[i], d[j])

    pairs = quality.silhouette_pairs(d, "flip", k=10, impl=impl)
    assert len(pairs) == 10 and all(v == "flip" for *_, v in pairs)
    assert not {(a, b) for a, b, _ in pairs} & {(b, a) for a, b, _ in pairs}
    assert not {names[k] for k in blank} & {c for a, b, _ in pairs for c in (a, b)}
    gains = [gain(names.index(a), names.index(b)) for a, b, _ in pairs]
    assert gains == pytest.approx(sorted(gains, reverse=True), abs=1e-6)
    gen = torch.Generator().manual_seed(0)
    typical = sorted(gain(*torch.randperm(len(names), generator=gen)[:2].tolist()) for _ in range(40))[20]
    assert gains[-1] > typical + 0.1
    for a, b, _ in pairs:
        assert not (classify(flip(d[names.index(a)])) == names.index(b)).any()
    rot = quality.silhouette_pairs(d, "rot90", k=10, impl=impl)
    assert len(rot) == 10 and all(v == "rot90" for *_, v in rot)


def test_drawings_command_writes_them_and_search_takes_its_candidates(emoji_model, shipped_drawings, tmp_path,
                                                                      monkeypatch, capsys):
    """`drawings --out F` writes the drawings (the plain CFG samples of each concept's name on its seed,
    float16 safetensors, atomically); `search --drawings F` tries silhouette_pairs' best candidates"""
    from safetensors.torch import load_file, save_file

    from fundiff.emoji import quality

    d, names, _ = shipped_drawings
    f = tmp_path / "shipped.safetensors"
    save_file({"drawings": d.half().contiguous()}, f)
    assert quality.main(["search", "--kind", "flip", "--drawings", str(f), "--k", "1", "--n", "1"]) == 0
    first = quality.silhouette_pairs(load_file(f)["drawings"], "flip", k=1)[0]
    assert json.loads(capsys.readouterr().out.splitlines()[0])["pair"] == list(first)

    sub = concepts.load_subset()
    monkeypatch.setattr(quality, "load_subset", lambda: {"names": sub["names"][:2]})
    out = tmp_path / "drawn.safetensors"
    assert quality.main(["drawings", "--out", str(out), "--n", "1"]) == 0
    got = load_file(out)["drawings"]
    assert got.dtype == torch.float16 and got.shape == (2, 1, 3, 32, 32)
    impl = quality.as_impl("solutions")  # the plain CFG samples of each name, concept k on seed 500 + k
    for k in range(2):
        est = quality.cfg(emoji_model, str(sub["names"][k]), impl, 7.0)
        plain = quality.run(emoji_model, est, 1, quality.DRAWINGS_SEED + k, impl)
        assert torch.equal(got[k], plain.half())


def test_search_reads_each_candidate_with_the_given_settings(monkeypatch):
    """`search --kind hybrid --gamma G --gamma-near H --sigma S` reads every candidate with those settings
    (how the tuned hybrids were found), and an anagram search with the given --gamma"""
    from fundiff.emoji import quality

    seen = []

    def reading(kind):
        def read(model, a, b, *view, **kw):
            seen.append((kind, a, b, *view, kw))
            return {"both": 0.0, "pair_both": 0.0}, None
        return read

    monkeypatch.setattr(quality, "hybrid_reading", reading("hybrid"))
    monkeypatch.setattr(quality, "anagram_reading", reading("anagram"))
    assert quality.main(["search", "--kind", "hybrid", "--pairs", "palm tree|skull;dog face|skull", "--gamma", "3",
                         "--gamma-near", "12", "--sigma", "2", "--n", "1"]) == 0
    assert quality.main(["search", "--pairs", "slice of pizza|fire|flip", "--gamma", "5", "--n", "1"]) == 0
    assert [s[:-1] for s in seen] == [("hybrid", "palm tree", "skull"), ("hybrid", "dog face", "skull"),
                                     ("anagram", "slice of pizza", "fire", "flip")]
    for *_, kw in seen[:2]:
        assert (kw["gamma"], kw["gamma_near"], kw["sigma"], kw["n"], kw["seed"]) == (3.0, 12.0, 2.0, 1, 100)
    assert seen[2][-1]["gamma"] == 5.0 and "sigma" not in seen[2][-1]


def test_the_anagrams_command_reads_each_pair_with_its_own_scales_unless_given(monkeypatch):
    """`anagrams`: the tuned pizza ↔ fire with its (γ 6, 10; β 0, 3), the others with the course's 7 and
    no negative prompt; --gamma2 (or --gamma, --beta, --beta2) replaces that setting of every pair and
    leaves the others as they were"""
    from fundiff.emoji import quality

    seen = []

    def read(model, a, b, view, **kw):
        seen.append(((a, b, view), kw["gamma"], kw["gamma2"], kw["beta"], kw["beta2"]))
        return {}, torch.zeros(1, 3, 32, 32)

    monkeypatch.setattr(quality, "anagram_reading", read)
    assert quality.main(["anagrams", "--n", "1"]) == 0
    assert seen[0] == (("slice of pizza", "fire", "flip"), 6.0, 10.0, 0.0, 3.0)
    assert all(s[1:] == (7.0, None, 0.0, 0.0) for s in seen[1:]) and len(seen) == len(quality.ANAGRAM_PAIRS)
    seen.clear()
    assert quality.main(["anagrams", "--n", "1", "--gamma2", "9"]) == 0
    assert seen[0][1:] == (6.0, 9.0, 0.0, 3.0) and seen[1][1:] == (7.0, 9.0, 0.0, 0.0)
    seen.clear()
    assert quality.main(["anagrams", "--n", "1", "--beta2", "0", "--beta", "1.5"]) == 0
    assert seen[0][1:] == (6.0, 10.0, 1.5, 0.0) and seen[1][1:] == (7.0, None, 1.5, 0.0)


def test_anagram_reading_reads_through_the_view_with_and_without_the_turned_class(monkeypatch):
    """Through the view a picture can look like another drawing turned round (a pear upside down is a
    bulb): the *_concepts readings take the top-1 over the concepts alone, for the anagram and for the
    controls, while the others keep "a turned picture" as an answer.  Stub samples: a marker pixel in
    the top-left corner reads as p1; anything else reads as "turned", or as p2 without that class."""
    from fundiff.emoji import quality

    c1, c2 = quality.concept("pear"), quality.concept("electric light bulb")
    k = len(concepts.load_subset()["names"])

    def marked(n, corner=0):
        x = -torch.ones(n, 3, 32, 32)
        x[:, :, corner, corner] = 1
        return x

    def classify(x, turned=True):
        first = x[:, 0, 0, 0] == 1
        return torch.where(first, torch.tensor(c1), torch.tensor(k if turned else c2))

    monkeypatch.setattr(quality, "cfg", lambda *a: (lambda x, t: x))
    monkeypatch.setattr(quality, "run", lambda model, est, n, seed, impl: marked(n))
    monkeypatch.setattr(quality, "plain_samples",  # p2's plain samples turned back read as p1
                        lambda model, p, n, seed, impl, gamma, *neg: marked(n, 0 if p == "pear" else -1))
    monkeypatch.setattr(quality, "classify", classify)
    monkeypatch.setattr(quality, "pair_reads_first", lambda x, a, b: torch.zeros(len(x), dtype=torch.bool))
    r, x = quality.anagram_reading(None, "pear", "electric light bulb", "rot180", n=3)
    assert x.shape == (3, 3, 32, 32)
    assert (r["upright"], r["through_view"], r["both"]) == (1.0, 0.0, 0.0)
    assert (r["through_view_concepts"], r["both_concepts"]) == (1.0, 1.0)
    assert (r["control_plain_through_view"], r["control_plain_through_view_concepts"]) == (0.0, 1.0)
    assert (r["control_p2_turned_back"], r["control_p2_turned_back_concepts"]) == (1.0, 1.0)
    assert quality.margin(r) == 0.0  # over the concepts: 1.0 both, less the 1.0 control


def test_anagram_reading_guides_each_prompt_with_its_own_scale(monkeypatch):
    """gamma2: the prompt seen through the view gets its own CFG scale, and beta / beta2 guide each prompt
    away from the other one (a negative prompt), in the anagram and in its control's plain samples
    (ANAGRAM_PAIRS' tuned pizza ↔ fire); without them both get gamma and no negative prompt."""
    from fundiff.emoji import quality

    calls = []
    monkeypatch.setattr(quality, "cfg", lambda model, p, impl, g, neg, b: calls.append(("cfg", p, g, neg, b))
                        or (lambda x, t: x))
    monkeypatch.setattr(quality, "run", lambda model, est, n, seed, impl: -torch.ones(n, 3, 32, 32))
    monkeypatch.setattr(quality, "plain_samples", lambda model, p, n, seed, impl, gamma, neg, b:
                        calls.append(("plain", p, gamma, neg, b)) or -torch.ones(n, 3, 32, 32))
    pair = next(p for p in quality.ANAGRAM_PAIRS if p[:2] == ("slice of pizza", "fire"))
    assert quality.anagram_settings(pair) == {"gamma": 6.0, "gamma2": 10.0, "beta": 0.0, "beta2": 3.0}
    r, _ = quality.anagram_reading(None, *pair[:3], n=2, **quality.anagram_settings(pair))
    assert r["gamma"] == [6.0, 10.0] and r["beta"] == [0.0, 3.0]
    pizza, fire = ("slice of pizza", 6.0, "fire", 0.0), ("fire", 10.0, "slice of pizza", 3.0)
    assert sorted(calls) == sorted([("cfg", *pizza), ("cfg", *fire), ("plain", *pizza), ("plain", *fire)])
    calls.clear()
    quality.anagram_reading(None, "pear", "electric light bulb", "rot180", n=2)
    assert {c[2] for c in calls} == {7.0} and {c[4] for c in calls} == {0.0}
    default = {"gamma": 7.0, "gamma2": None, "beta": 0.0, "beta2": 0.0}
    assert quality.anagram_settings(("pear", "electric light bulb", "rot180", None, None)) == default
    assert quality.anagram_settings(("pear", "electric light bulb", "rot180")) == default


def test_cfg_with_a_negative_prompt_is_the_package_estimator_and_without_one_the_courses():
    """quality.cfg: β = 0 is the implementation's cfg_estimator (the student's CFG is what is measured);
    β > 0 adds the push away from the negative prompt (fundiff.negative_prompt), and needs one."""
    from fundiff.emoji import quality

    class Model:
        null_prompt = ""

        @staticmethod
        def estimator(p):
            return lambda x, t: ({"": 0.0, "a": 1.0, "b": 10.0}[p] * torch.ones_like(x), None)

    impl = quality.as_impl(None)
    x, t = torch.zeros(1, 3, 2, 2), torch.tensor([500])
    assert torch.equal(quality.cfg(Model, "a", impl, 7.0)(x, t)[0], torch.full_like(x, 7.0))
    assert torch.equal(quality.cfg(Model, "a", impl, 7.0, "b", 0.0)(x, t)[0], torch.full_like(x, 7.0))
    assert torch.equal(quality.cfg(Model, "a", impl, 7.0, "b", 0.5)(x, t)[0], torch.full_like(x, 2.0))
    with pytest.raises(ValueError, match="needs a negative prompt"):
        quality.cfg(Model, "a", impl, 7.0, None, 0.5)
