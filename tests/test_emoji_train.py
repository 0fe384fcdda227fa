"""Training the emoji model (fundiff.emoji.train): the hybrid loss, the command, resume, torn
files, two processes, 64 px, fine-tuning from saved weights.

Ungraded tests of the package itself; training runs use a tiny UNet (``--tiny``) for a few steps."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fundiff.emoji import concepts, text
from fundiff.emoji import train as etrain
from fundiff.models import load_pretrained
from parallel import concurrently

ROOT = Path(__file__).resolve().parents[1]


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


