"""The Part B training command (ungraded): a tiny run writes its checkpoints, loss log and curve;
a killed run resumes to exactly the weights of an unbroken one; mismatched or existing runs are
refused; checkpoints are written atomically; shipped and broken weight files load or fail clearly.
Every run here is tiny (D = 4, 32 digits, batches of 16) so the file takes seconds."""
import csv
import json
from dataclasses import replace

import pytest
import torch
from safetensors.torch import save_file

import fundiff.checkpoint as checkpoint
import fundiff.train as ft
from fundiff.checkpoint import load_state

TINY = dict(hidden=4, batch_size=16, sample_epochs=(), num_ts=10)
LIMIT = 32  # digits: 2 steps per epoch


def tiny(kind="time", **changes):
    return replace(ft.COURSE[kind], **{**TINY, **changes})


def run(cfg, out, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("fast", False)
    return ft.train(cfg, out, limit=LIMIT, **kw)


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs"


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory):
    """A 3-epoch run of the time-conditioned model, never interrupted."""
    out = tmp_path_factory.mktemp("unbroken")
    model = run(tiny(epochs=3), out)
    return out, weights(model)


def test_a_tiny_run_writes_checkpoints_losses_and_curve(tmp_path):
    out = tmp_path / "run"
    cfg = tiny("class", epochs=2, sample_epochs=(2,))
    model = ft.train(cfg, out, limit=LIMIT, progress=False)  # the default fast path
    for name in ("epoch_001.safetensors", "epoch_002.safetensors", "last.safetensors", "losses.csv",
                 "loss_curve.png", "samples_epoch02.png", "samples_epoch02.gif"):
        assert (out / name).is_file(), name
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))
    rows = list(csv.DictReader(open(out / "losses.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 1, 2, 2]
    assert all(float(r["loss"]) > 0 for r in rows)
    assert (out / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = load_state(out / "last.safetensors")
    assert state["epoch"] == 2 and len(state["losses"]) == 4
    assert json.loads(state["config"])["kind"] == "class"
    again = ft.load_weights(out / "epoch_002.safetensors")
    assert isinstance(again, type(model)) and not again.training
    assert_same_weights(weights(again), weights(model))


def test_the_lr_scheduler_steps_once_per_epoch(tmp_path):
    """ExponentialLR(γ = 0.1^(1/epochs)): after e epochs the LR is lr·0.1^(e/epochs), whatever the
    number of batches per epoch (stepping it per batch would decay it 2× faster here)."""
    cfg = tiny(epochs=4)
    for done in (1, 3):
        run(cfg, tmp_path, stop_after=1 if done == 1 else 2, resume=done != 1)
        state = load_state(tmp_path / "last.safetensors")
        lr = state["opt"]["param_groups"][0]["lr"]
        assert lr == pytest.approx(cfg.lr * 0.1 ** (done / cfg.epochs), rel=1e-6)
        assert state["sched"]["last_epoch"] == done


def test_the_same_seed_gives_the_same_run(tmp_path, unbroken):
    _, want = unbroken
    torch.manual_seed(1234)  # the global RNG must not matter
    model = run(tiny(epochs=3), tmp_path / "again")
    assert_same_weights(weights(model), want)


def test_resume_after_stop_gives_the_weights_of_an_unbroken_run(tmp_path, unbroken):
    ref_out, want = unbroken
    out = tmp_path / "resumed"
    run(tiny(epochs=3), out, stop_after=1)
    assert load_state(out / "last.safetensors")["epoch"] == 1
    model = run(tiny(epochs=3), out, resume=True)
    assert_same_weights(weights(model), want)
    assert (out / "losses.csv").read_text() == (ref_out / "losses.csv").read_text()


def test_a_kill_mid_epoch_loses_only_that_epoch(tmp_path, monkeypatch, unbroken):
    """A kill in the middle of epoch 2 leaves epoch 1's checkpoint; --resume redoes epoch 2 and
    ends with the same weights as the unbroken run."""
    _, want = unbroken
    out = tmp_path / "killed"
    calls = {"n": 0}
    real = ft.batch_loss

    def dies_in_epoch_2(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 3:  # the first batch of epoch 2 (2 batches per epoch)
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(ft, "batch_loss", dies_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run(tiny(epochs=3), out)
    monkeypatch.setattr(ft, "batch_loss", real)
    assert load_state(out / "last.safetensors")["epoch"] == 1
    model = run(tiny(epochs=3), out, resume=True)
    assert_same_weights(weights(model), want)


def test_resume_refuses_other_settings(tmp_path):
    run(tiny(epochs=2), tmp_path, stop_after=1)
    with pytest.raises(ValueError, match=r"cannot resume .*other settings.*lr"):
        run(tiny(epochs=2, lr=5e-4), tmp_path, resume=True)
    with pytest.raises(ValueError, match=r"cannot resume .*hidden"):
        run(tiny(epochs=2, hidden=8), tmp_path, resume=True)


def test_an_existing_run_is_not_overwritten_without_resume(tmp_path):
    run(tiny(epochs=1), tmp_path)
    before = (tmp_path / "last.safetensors").read_bytes()
    with pytest.raises(FileExistsError, match="--resume"):
        run(tiny(epochs=1), tmp_path)
    assert (tmp_path / "last.safetensors").read_bytes() == before


def test_a_failure_in_the_middle_of_a_save_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "last.safetensors"
    checkpoint.save_state({"epoch": 1, "w": torch.ones(3)}, path)
    before = path.read_bytes()

    def torn_write(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_file", torn_write)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save_state({"epoch": 2, "w": torch.zeros(3)}, path)
    assert path.read_bytes() == before
    assert load_state(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.safetensors"], "a temporary file was left"


def test_the_command_line_runs_and_resumes(tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["denoiser", "--epochs", "1", "--hidden", "4", "--batch-size", "16", "--limit", "32",
            "--out", str(out), "--no-fast", "--sample-epochs"]
    assert ft.main(args) == 0
    assert (out / "epoch_001.safetensors").is_file()
    assert "trained denoiser for 1 epochs" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:  # an existing run without --resume: argparse's error
        ft.main(args)
    assert exit_.value.code == 2
    assert ft.main(args[:2] + ["2"] + args[3:] + ["--resume"]) == 0
    assert load_state(out / "last.safetensors")["epoch"] == 2
    with pytest.raises(SystemExit):
        ft.parse_args(["unknown-model"])


@pytest.mark.parametrize("kind,epoch", [("denoiser", 1), ("denoiser", 5), ("time", 5), ("time", 20),
                                        ("class", 5), ("class", 20)])
def test_shipped_weights_load(kind, epoch):
    path = ft.shipped_path(kind, epoch)
    if not path.is_file():
        pytest.skip(f"{path.name} not shipped yet")
    model = ft.load_shipped(kind, epoch)
    assert not model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert type(model).__name__ == {"denoiser": "UNet", "time": "TimeConditionalUNet",
                                    "class": "ClassConditionalUNet"}[kind]


def test_missing_and_broken_weight_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no shipped weights time_epoch07\.safetensors.*shipped:"):
        ft.load_shipped("time", 7)
    with pytest.raises(FileNotFoundError, match="does not exist: expected a .safetensors file"):
        ft.load_weights(tmp_path / "nothing.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01 not a safetensors file")
    with pytest.raises(ValueError, match="not a readable safetensors checkpoint"):
        ft.load_weights(garbage)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.ones(2)}, str(foreign))
    with pytest.raises(ValueError, match="no fundiff config"):
        ft.load_weights(foreign)
    with pytest.raises(ValueError, match="weights only, not a training state"):
        load_state(foreign)
    truncated = tmp_path / "truncated.safetensors"
    model = ft.build_model(tiny(epochs=1))
    ft.export_weights(model, truncated, tiny(epochs=1), 1)
    truncated.write_bytes(truncated.read_bytes()[:-100])
    with pytest.raises(ValueError, match="not a readable safetensors checkpoint"):
        ft.load_weights(truncated)
