"""The emoji model (fundiff.models.emoji, fundiff.emoji): loader, prompts, bad prompts, the hybrid
loss, training (resume, torn files, two processes), the test pictures and the classifier.

Ungraded tests of the package itself; training runs use a tiny UNet (``--tiny``) for a few steps."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fundiff.emoji import concepts, text
from fundiff.emoji import train as etrain
from fundiff.models import load_pretrained
from fundiff.models.emoji import EmojiModel
from parallel import concurrently

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = (concepts.EMOJI_DIR / "unet" / "config.json").is_file()
needs_model = pytest.mark.skipif(not SHIPPED, reason="the emoji model is not trained yet (data/emoji/unet)")


@pytest.fixture(scope="module")
def model():
    return load_pretrained("emoji", device="cpu")


# ----------------------------------------------------------------------------------------------
# The shipped data and prompt table
# ----------------------------------------------------------------------------------------------
def test_subset_covers_the_course_prompts_and_both_styles():
    d = concepts.load_subset()
    names = list(map(str, d["names"]))
    assert len(names) >= 100
    for prompt, name in concepts.COURSE_PROMPTS.items():
        assert name is None or name in names, f"{prompt!r} maps to {name!r}, which the subset lacks"
    assert set(d["styles"].tolist()) == {0, 1}
    assert d["images"].shape[1:] == (32, 32, 3) and d["images"].dtype.name == "uint8"
    assert int(d["labels"].max()) == len(names) - 1


def test_table_holds_every_prompt_the_demo_uses():
    from fundiff.emoji.quality import ANAGRAM_PAIRS, DEMO_PROMPTS, HYBRID_PAIRS

    table = text.load_table()
    used = {"", *DEMO_PROMPTS, *concepts.COURSE_PROMPTS, *(p for a in ANAGRAM_PAIRS for p in a[:2]),
            *(p for h in HYBRID_PAIRS for p in h[:2])}
    assert used <= set(table), f"missing from the table: {sorted(used - set(table))}"
    assert text.all_prompts() == list(table)


@pytest.mark.skipif(not text.encoder_available(), reason="the optional sentence encoder is not installed")
def test_table_equals_the_encoder():
    table = text.load_table()
    probe = ["", "a rocket ship", "dog face", "an oil painting of an old man"]
    fresh = text.encode_texts(probe)
    stored = torch.stack([table[p] for p in probe])
    assert (fresh - stored).abs().max() < 2e-3  # stored as fp16
    assert torch.allclose(fresh.norm(dim=1), torch.ones(4), atol=1e-5)
    # nearest neighbours make sense: the course's rocket is nearer "rocket" than "pencil"
    assert float(table["a rocket ship"] @ table["rocket"]) > float(table["a rocket ship"] @ table["pencil"]) + 0.3


def test_unknown_prompt_without_encoder_names_the_nearest(monkeypatch):
    monkeypatch.setattr(text, "encoder_available", lambda: False)
    with pytest.raises(ValueError, match="nearest are .*'a rocket ship'"):
        text.prompt_embedding("a rockett ship")
    assert text.prompt_embedding("a rocket ship").shape == (1, 1, 384)


@pytest.mark.parametrize("bad", [None, 3, b"rocket", ["rocket"]])
def test_prompt_must_be_text(bad):
    with pytest.raises(ValueError, match="must be a str"):
        text.prompt_embedding(bad)


def test_bad_table_file(tmp_path):
    p = tmp_path / "t.safetensors"
    p.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        text.load_table(p)
    with pytest.raises(ValueError, match=r"embeds must be \(2, 384\)"):
        text.save_table(["a", "b"], torch.zeros(3, 384), tmp_path / "u.safetensors")


# ----------------------------------------------------------------------------------------------
# The model behind the Part A interface
# ----------------------------------------------------------------------------------------------
@needs_model
def test_loader_gives_an_if_shaped_model(model):
    from diffusers import DDPMScheduler, UNet2DConditionModel

    assert isinstance(model, EmojiModel) and isinstance(model.unet, UNet2DConditionModel)
    assert model.image_shape == (3, 32, 32) and model.num_train_timesteps == 1000
    ref = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2").alphas_cumprod
    assert torch.allclose(model.alphas_cumprod, ref.float())
    assert model.scheduler.config.variance_type == "learned_range"
    size = (concepts.EMOJI_DIR / "unet" / "diffusion_pytorch_model.safetensors").stat().st_size
    assert size <= 30e6


@needs_model
def test_predict_returns_eps_and_learned_variance(model):
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    c = model.encode_prompt("a rocket ship")
    eps, v = model.predict(x, 990, c)
    assert eps.shape == v.shape == x.shape and eps.dtype == torch.float32
    eps64, v64 = model.predict(x.double(), 990, c)
    assert eps64.dtype == torch.float64
    # the prompt matters
    eps2, _ = model.predict(x, 500, model.encode_prompt("a pencil"))
    eps1, _ = model.predict(x, 500, c)
    assert (eps1 - eps2).abs().mean() > 1e-3


@needs_model
@pytest.mark.parametrize("x, t, err", [
    (torch.zeros(1, 1, 28, 28), 10, "shape"), (torch.zeros(1, 3, 32, 32), 1000, r"\[0, 1000\)"),
    (torch.zeros(1, 3, 32, 32), -1, r"\[0, 1000\)"), (torch.zeros(1, 3, 32, 32, dtype=torch.int64), 5, "floating"),
])
def test_predict_refuses_bad_inputs(model, x, t, err):
    with pytest.raises(ValueError, match=err):
        model.predict(x, t, model.encode_prompt(""))


@needs_model
def test_bad_conditioning_is_refused(model):
    with pytest.raises(ValueError, match="prompt embedding"):
        model.predict(torch.zeros(1, 3, 32, 32), 5, torch.zeros(1, 77, 4096))


def test_loader_refuses_missing_and_garbage_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="unet/config.json is missing"):
        load_pretrained("emoji", path=tmp_path)
    (tmp_path / "unet").mkdir()
    (tmp_path / "scheduler").mkdir()
    (tmp_path / "unet" / "config.json").write_text("{not json")
    (tmp_path / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"junk")
    (tmp_path / "scheduler" / "scheduler_config.json").write_text("{}")
    (tmp_path / "prompt_embeds.safetensors").write_bytes((concepts.EMOJI_DIR / "prompt_embeds.safetensors").read_bytes())
    with pytest.raises(ValueError, match="readable emoji model"):
        load_pretrained("emoji", path=tmp_path)


@needs_model
def test_part_a_loop_runs_with_learned_variance(model):
    from fundiff.impl import as_impl

    impl = as_impl(None)
    est = impl.guidance.cfg_estimator(model.estimator("a rocket ship"), model.estimator(""), 7.0)
    x = impl.denoise.sample(est, (2, 3, 32, 32), impl.denoise.strided_timesteps(600, 150), model.alphas_cumprod,
                            torch.Generator().manual_seed(0))
    assert x.shape == (2, 3, 32, 32) and torch.isfinite(x).all()


# ----------------------------------------------------------------------------------------------
# The hybrid loss
# ----------------------------------------------------------------------------------------------
def test_vlb_is_zero_for_the_true_noise_and_posterior_variance():
    betas, abar = etrain.schedule()
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 3, 8, 8, generator=g) * 2 - 1
    eps = torch.randn(4, 3, 8, 8, generator=g)
    t = torch.tensor([1, 10, 500, 999])
    x_t = etrain.q_sample(x0, t, eps, abar)
    out = torch.cat([eps, -torch.ones_like(eps)], 1)  # ε̂ = ε, f = 0 → σ² = β̃
    simple, vlb = etrain.hybrid_loss(out, x0, x_t, t, eps, betas, abar)
    assert simple.item() == 0 and abs(vlb.item()) < 1e-5
    out2 = torch.cat([eps, torch.ones_like(eps)], 1)  # f = 1 → σ² = β ≠ β̃: a positive KL
    assert etrain.hybrid_loss(out2, x0, x_t, t, eps, betas, abar)[1] > 1e-4


def test_learned_variance_matches_diffusers():
    """log σ² of the loss = the log variance diffusers' DDPMScheduler uses for learned_range (up to
    float32 rounding: diffusers takes β_t as 1 − ᾱ_t/ᾱ_{t−1}, we take the schedule's β_t; at t = 5 the
    two differ by 1e-3 in log σ², 0.1 % in σ²)."""
    from diffusers import DDPMScheduler

    s = DDPMScheduler(**etrain.SCHEDULER_CONFIG)
    betas, abar = etrain.schedule()
    v = torch.tensor([-0.5, 0.0, 0.7])
    for t in (5, 300, 990):
        _, logvar_q = etrain.posterior(torch.zeros(1, 1, 1, 3), torch.zeros(1, 1, 1, 3), torch.tensor([t]), betas, abar)
        f = (v + 1) / 2
        ours = f * betas[t].log() + (1 - f) * logvar_q.flatten()
        theirs = torch.stack([s._get_variance(t, predicted_variance=vi) for vi in v]).flatten()
        assert torch.allclose(ours, theirs, atol=2e-3), (t, ours, theirs)


def test_vlb_trains_only_the_variance_channels():
    betas, abar = etrain.schedule()
    x0 = torch.zeros(2, 3, 4, 4)
    eps = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([100, 700])
    out = torch.randn(2, 6, 4, 4, generator=torch.Generator().manual_seed(2)).requires_grad_()
    _, vlb = etrain.hybrid_loss(out, x0, etrain.q_sample(x0, t, eps, abar), t, eps, betas, abar)
    vlb.backward()
    assert out.grad[:, :3].abs().max() == 0 and out.grad[:, 3:].abs().max() > 0


def test_p2_weights_average_one_and_favour_high_noise():
    _, abar = etrain.schedule()
    w = etrain.p2_weight(abar)
    assert abs(float(w.mean()) - 1) < 1e-5 and bool((w[1:] >= w[:-1]).all())  # 1 − ᾱ_t grows with t
    assert w[50] < 0.05 and w[900] > 1.5
    betas = etrain.schedule()[0]
    g = torch.Generator().manual_seed(3)
    x0, eps = torch.rand(2, 3, 4, 4, generator=g) * 2 - 1, torch.randn(2, 3, 4, 4, generator=g)
    t = torch.tensor([20, 900])
    out = torch.cat([torch.zeros_like(eps), torch.zeros_like(eps)], 1)  # ε̂ = 0: per-sample error ‖ε‖²
    per = (eps ** 2).mean(dim=(1, 2, 3))
    simple, _ = etrain.hybrid_loss(out, x0, etrain.q_sample(x0, t, eps, abar), t, eps, betas, abar, w)
    assert torch.allclose(simple, (per * w[t]).mean())


def test_focus_pictures_are_the_prompts_concepts():
    from fundiff.emoji import quality

    d = concepts.load_subset()
    f = etrain.focus_pictures(d["labels"])
    got = {int(d["labels"][i]) for i in f}
    assert quality.concept("a rocket ship") in got and quality.concept("lion face") in got
    assert got == {quality.concept(p) for p in (*quality.DEMO_PROMPTS, *quality.FOCUS_PROMPTS)}
    # share 0 draws what randint draws; share 1 draws only focus pictures; 0.5 about half
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert torch.equal(etrain.draw_pictures(1082, f, 0.0, 64, g1), torch.randint(0, 1082, (64,), generator=g2))
    only = etrain.draw_pictures(1082, f, 1.0, 256, torch.Generator().manual_seed(1))
    assert set(only.tolist()) <= set(f.tolist())
    half = etrain.draw_pictures(1082, f, 0.5, 4000, torch.Generator().manual_seed(2))
    share = sum(i in set(f.tolist()) for i in half.tolist()) / 4000
    assert 0.45 < share < 0.6, share


def test_extra_pictures_take_their_share_on_top_of_the_focus():
    from fundiff.emoji import quality

    d = concepts.load_subset()
    f = etrain.focus_pictures(d["labels"])
    extra = etrain.focus_pictures(d["labels"], ("pear", "droplet"))
    assert {int(d["labels"][i]) for i in extra} == {quality.concept("pear"), quality.concept("droplet")}
    # extra share 0 draws what the focus alone drew, so old runs replay unchanged
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(etrain.draw_pictures(1082, f, 0.8, 64, g1, extra, 0.0), etrain.draw_pictures(1082, f, 0.8, 64, g2))
    got = etrain.draw_pictures(1082, f, 0.8, 8000, torch.Generator().manual_seed(4), extra, 0.25)
    ex, fo = set(extra.tolist()), set(f.tolist()) - set(extra.tolist())
    share_extra = sum(i in ex for i in got.tolist()) / 8000
    share_focus = sum(i in fo for i in got.tolist()) / 8000
    assert 0.23 < share_extra < 0.28, share_extra  # 0.25 (+ the rare uniform draws of those 4 pictures)
    assert 0.56 < share_focus < 0.64, share_focus  # 0.8 × 0.75 = 0.6


# ----------------------------------------------------------------------------------------------
# Training: the command, resume, torn files, two processes
# ----------------------------------------------------------------------------------------------
def run_train(*args, env=None, nproc=None):
    cmd = ([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", "fundiff.emoji.train"] if nproc else [sys.executable, "-m", "fundiff.emoji.train"])
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.Popen([*cmd, "--tiny", "--no-progress", "--threads", "1", *map(str, args)], cwd=ROOT,
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group: a hang kills torchrun's workers too
    try:
        out, err = proc.communicate(timeout=280)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def weights(folder):
    from safetensors.torch import load_file

    return load_file(str(Path(folder) / "unet" / "diffusion_pytorch_model.safetensors"))


def test_train_then_resume_equals_one_run(tmp_path):
    a, b1 = concurrently(  # an unbroken run, and one stopped half-way (independent: at once)
        lambda: run_train("--out", tmp_path / "a", "--work", tmp_path / "wa", "--steps", "4", "--batch-size", "4"),
        lambda: run_train("--out", tmp_path / "b", "--work", tmp_path / "wb", "--steps", "4", "--batch-size", "4",
                          "--stop-after", "2"))
    assert a.returncode == 0, a.stderr[-2000:]
    rec = json.loads((tmp_path / "a" / "training.json").read_text())
    assert rec["steps"] == 4 and rec["seed"] == 0 and rec["unet_config"]["block_out_channels"] == [16, 16, 32]
    assert (tmp_path / "a" / "scheduler" / "scheduler_config.json").is_file()
    assert b1.returncode == 0, b1.stderr[-2000:]
    (tmp_path / "wb" / ".state.safetensors.x.tmp").write_bytes(b"torn")  # a write killed half-way
    b2 = run_train("--out", tmp_path / "b", "--work", tmp_path / "wb", "--steps", "4", "--batch-size", "4", "--resume")
    assert b2.returncode == 0, b2.stderr[-2000:]
    assert "resumed from" in b2.stdout and "torn temporary file" in b2.stdout
    assert not list((tmp_path / "wb").glob(".*.tmp"))
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(wa[k], wb[k]) for k in wa), "resumed training differs from an unbroken run"
    # a resume with another recipe is a new phase of the record
    c = run_train("--out", tmp_path / "b", "--work", tmp_path / "wb", "--steps", "6", "--batch-size", "4", "--resume",
                  "--weighting", "p2", "--focus", "0.5")
    assert c.returncode == 0, c.stderr[-2000:]
    phases = json.loads((tmp_path / "b" / "training.json").read_text())["phases"]
    assert [(p["from_step"], p["weighting"], p["focus"]) for p in phases] == [(0, "uniform", 0.0), (4, "p2", 0.5)]


def test_two_processes_agree_with_one(tmp_path):
    one, other = concurrently(  # one process, and (for the check's teeth, below) another seed
        lambda: run_train("--out", tmp_path / "one", "--work", tmp_path / "w1", "--steps", "3", "--batch-size", "4"),
        lambda: run_train("--out", tmp_path / "s1", "--work", tmp_path / "w3", "--steps", "3", "--batch-size", "4",
                          "--seed", "1"))
    assert one.returncode == 0 and other.returncode == 0, one.stderr[-2000:] + other.stderr[-2000:]
    two = run_train("--out", tmp_path / "two", "--work", tmp_path / "w2", "--steps", "3", "--batch-size", "4",
                    nproc=2, env={"FUNDIFF_DDP_BACKEND": "gloo"})
    assert two.returncode == 0, two.stderr[-3000:]
    assert json.loads((tmp_path / "two" / "training.json").read_text())["processes"] == 2
    w1, w2 = weights(tmp_path / "one"), weights(tmp_path / "two")
    diff = max(float((w1[k] - w2[k]).abs().max()) for k in w1)
    assert diff < 1e-5, f"2 processes differ from 1 by {diff}"
    # and the check has teeth: a different seed moves the weights far more than that
    w3 = weights(tmp_path / "s1")
    assert max(float((w1[k] - w3[k]).abs().max()) for k in w1) > 1e-3


def test_train_at_64px_writes_a_64px_model_and_will_not_resume_a_32px_state(tmp_path):
    """--size 64 (IF stage 1's size): the 64-px pictures and network, recorded, loaded as a (3, 64, 64)
    model; a 32-px run's training state is not resumed at 64 px but refused, naming the cause."""
    big, small = concurrently(
        lambda: run_train("--size", "64", "--out", tmp_path / "m", "--work", tmp_path / "w", "--steps", "2",
                          "--batch-size", "4"),
        lambda: run_train("--out", tmp_path / "s", "--work", tmp_path / "ws", "--steps", "2", "--batch-size", "4",
                          "--stop-after", "1"))
    assert big.returncode == 0 and small.returncode == 0, big.stderr[-2000:] + small.stderr[-2000:]
    rec = json.loads((tmp_path / "m" / "training.json").read_text())
    assert rec["data"]["file"] == "data/emoji/emoji_64_subset.npz"
    assert rec["unet_config"]["sample_size"] == 64 and len(rec["unet_config"]["down_block_types"]) == 4
    (tmp_path / "m" / "prompt_embeds.safetensors").write_bytes(text.EMBEDS_FILE.read_bytes())
    m = load_pretrained("emoji", device="cpu", path=tmp_path / "m")
    assert m.image_shape == (3, 64, 64)
    eps, v = m.predict(torch.zeros(2, 3, 64, 64), 990, m.encode_prompt("red apple"))
    assert eps.shape == v.shape == (2, 3, 64, 64)
    bad = run_train("--size", "64", "--out", tmp_path / "s", "--work", tmp_path / "ws", "--steps", "2",
                    "--batch-size", "4", "--resume")
    assert bad.returncode != 0 and "another UNet" in bad.stderr and "--size" in bad.stderr, bad.stderr[-1500:]


def test_the_64px_subset_is_the_32px_one_at_twice_the_size():
    import numpy as np

    from fundiff.emoji.classifier import at_classifier_size

    a, b = concepts.load_subset(), concepts.load_subset(concepts.SUBSET_FILE_64)
    assert b["images"].shape == (len(a["images"]), 64, 64, 3)
    for k in a:
        if k != "images":
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    x64, x32 = (torch.from_numpy(d["images"]).permute(0, 3, 1, 2).float() / 127.5 - 1 for d in (b, a))
    assert float((at_classifier_size(x64) - x32).abs().mean()) < 0.02  # the same pictures, picture for picture
    assert float((at_classifier_size(x64) - x32.roll(1, 0)).abs().mean()) > 0.2  # (and the check has teeth)


def test_the_classifier_reads_64px_pictures_at_its_32px():
    from fundiff.emoji import classifier

    d = concepts.load_subset(concepts.SUBSET_FILE_64)
    pick = torch.arange(0, len(d["images"]), 37)
    x = torch.from_numpy(d["images"][pick.numpy()]).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert torch.equal(classifier.logits(x), classifier.logits(classifier.at_classifier_size(x)))
    assert (classifier.classify(x) == torch.from_numpy(d["labels"][pick.numpy()]).long()).float().mean() > 0.9
    with pytest.raises(ValueError, match=r"\(B, 3, 32, 32\) or \(B, 3, 64, 64\)"):
        classifier.logits(torch.zeros(1, 3, 48, 48))


def test_init_fine_tunes_from_saved_weights_and_keeps_their_record(tmp_path):
    base = run_train("--out", tmp_path / "base", "--work", tmp_path / "wb", "--steps", "2", "--batch-size", "4")
    assert base.returncode == 0, base.stderr[-2000:]
    args = ("--out", tmp_path / "ft", "--work", tmp_path / "wf", "--steps", "2", "--batch-size", "4",
            "--init", tmp_path / "base" / "unet", "--extra-prompts", "pear; droplet", "--extra-share", "0.5",
            "--lr", "1e-9")
    ft = run_train(*args, "--stop-after", "1")
    assert ft.returncode == 0, ft.stderr[-2000:]
    w0, w1 = weights(tmp_path / "base"), weights(tmp_path / "ft")
    # one step at lr 1e-9: the EMA starts from the saved weights and stays there (a fresh UNet would not)
    assert max(float((w0[k] - w1[k]).abs().max()) for k in w0) < 1e-6
    # the record of the weights it started from is read at the start and kept through a resume, even when
    # the training.json beside them has since been overwritten
    (tmp_path / "base" / "training.json").write_text('{"steps": 99}')
    again = run_train(*args, "--resume")
    assert again.returncode == 0, again.stderr[-2000:]
    rec = json.loads((tmp_path / "ft" / "training.json").read_text())
    assert rec["init_record"]["steps"] == 2 and "losses_every_50_steps" not in rec["init_record"]
    assert rec["steps"] == 2 and len(rec["phases"]) == 1
    ph = rec["phases"][0]
    assert ph["init"] == str(tmp_path / "base" / "unet") and ph["extra_prompts"] == ["pear", "droplet"]
    assert ph["extra_share"] == 0.5 and "init_record" not in ph


@pytest.mark.parametrize("args, msg", [
    (["--extra-share", "2"], "expected a share in [0, 1]"), (["--extra-share", "0.3"], "needs --extra-prompts"),
    (["--extra-prompts", "a flying teapot", "--extra-share", "0.3"], "--extra-prompts"),
    (["--init", "no/such/folder"], "expected a saved UNet folder"),
    (["--steps", "0"], "must be > 0"), (["--batch-size", "-2"], "must be > 0"), (["--lr", "-1"], "must be > 0"),
    (["--device", "tpu9"], "not a torch device"), (["--minutes", "0"], "must be > 0"),
    (["--focus", "1.5"], "expected a share in [0, 1]"), (["--weighting", "snr"], "invalid choice"),
])
def test_bad_arguments_exit_2(args, msg, capsys):
    """argparse's exit 2 with the reason, before anything trains (in-process: main(argv) as the CLI)."""
    with pytest.raises(SystemExit) as stop:
        etrain.main(args)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and msg in err, err


@pytest.mark.parametrize("kw, msg", [
    ({"focus": 1.5}, r"--focus 1.5: expected a share in \[0, 1\]"), ({"weighting": "snr"}, "expected 'uniform' or 'p2'"),
    ({"extra_share": 0.3}, "needs --extra-prompts"), ({"extra_prompts": ("a flying teapot",), "extra_share": 0.3},
                                                      "--extra-prompts"),
])
def test_train_refuses_a_recipe_it_cannot_run_before_any_work(tmp_path, kw, msg):
    """train() itself checks the recipe (the command's exit-2 messages come from the same check)"""
    with pytest.raises(ValueError, match=msg):
        etrain.train(tmp_path / "o", tmp_path / "w", steps=1, **kw)
    with pytest.raises(FileNotFoundError, match="expected a saved UNet folder"):
        etrain.train(tmp_path / "o", tmp_path / "w", steps=1, init=tmp_path / "nothing")
    torn = tmp_path / "torn"
    torn.mkdir()
    (torn / "config.json").write_text("{}")
    (torn / "diffusion_pytorch_model.safetensors").write_bytes(b"\x10" * 100)  # a torn download
    with pytest.raises(ValueError, match=r"--init .*torn: .*not a readable safetensors"):
        etrain.train(tmp_path / "o", tmp_path / "w", steps=1, init=torn)
    assert not (tmp_path / "o").exists()


def test_resume_without_state_is_an_error(tmp_path):
    r = run_train("--out", tmp_path / "o", "--work", tmp_path / "w", "--steps", "2", "--resume")
    assert r.returncode != 0 and "no training state" in r.stderr


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


def test_drawings_command_writes_them_and_search_takes_its_candidates(model, shipped_drawings, tmp_path,
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
        plain = quality.run(model, quality.cfg(model, str(sub["names"][k]), impl, 7.0), 1, quality.DRAWINGS_SEED + k, impl)
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
