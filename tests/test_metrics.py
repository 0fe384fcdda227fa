"""The package's digit classifier (fundiff.metrics), the quality metric of generated digits."""
import pytest
import torch

from fundiff.data import load_digits
from fundiff.metrics import classify, per_digit_accuracy


def test_shipped_classifier_reads_the_held_out_digits():
    x, y = load_digits("heldout")
    assert (classify(x) == y).float().mean() >= 0.95


def test_per_digit_accuracy_counts_each_asked_digit():
    x, y = load_digits("heldout")
    acc = per_digit_accuracy(x, y)
    assert sorted(acc) == list(range(10)) and all(0.8 <= a <= 1 for a in acc.values())
    wrong = per_digit_accuracy(x, (y + 1) % 10)
    assert max(wrong.values()) < 0.2


def test_bad_images_are_clear_errors():
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        classify(torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match=r"values in \[0, 1\].*\(x \+ 1\) / 2"):
        classify(torch.full((2, 1, 28, 28), -1.0))


def test_paired_difference_counts_discordant_pairs():
    from fundiff.metrics import paired_difference

    d = paired_difference(torch.tensor([True, True, False, False]), torch.tensor([True, False, True, False]))
    assert d["diff_points"] == 0 and d["a_only"] == 1 and d["b_only"] == 1 and d["n"] == 4
    d = paired_difference(torch.tensor([True, True, True, False]), torch.tensor([False, True, True, False]))
    assert d["diff_points"] == 25 and d["ci95_points"][0] < 25 < d["ci95_points"][1]


def test_compare_samples_every_model_from_the_same_noise(tmp_path, capsys):
    """The same weights sampled twice on the same (paired) noise read identically; the CLI writes
    the JSON summary; PATH:fast / PATH:fp32 choose the sampling path."""
    import json
    from dataclasses import replace

    from fundiff import train as T
    from fundiff.metrics import main, parse_spec

    assert parse_spec("a/b.safetensors:fast") == ("a/b.safetensors", True)
    assert parse_spec("a/b.safetensors") == parse_spec("a/b.safetensors:fp32") == ("a/b.safetensors", False)
    cfg = replace(T.COURSE["class"], hidden=8, num_ts=20)  # sampled with its own T
    torch.manual_seed(0)
    path = T.export_weights(T.build_model(cfg), tmp_path / "tiny.safetensors", cfg, 1)
    assert main(["compare", str(path), f"{path}:fp32", "--per-digit", "1", "--chunk", "4",
                 "--json", str(tmp_path / "c.json")]) == 0
    first, second = json.loads((tmp_path / "c.json").read_text())["models"]
    assert first["accuracy"] == second["accuracy"] and second["vs_first"]["n"] == 10
    assert second["vs_first"]["a_only"] == second["vs_first"]["b_only"] == 0
    assert "vs first" in capsys.readouterr().out


def test_partb_quality_reads_the_same_samples_as_compare(tmp_path):
    """partb_quality is compare's sampling for one model in one batch: per-digit shares in [0, 1]
    that average to compare's accuracy on the same seed."""
    from dataclasses import replace

    from fundiff import train as T
    from fundiff.metrics import compare, partb_quality

    cfg = replace(T.COURSE["class"], hidden=8, num_ts=20)
    torch.manual_seed(1)
    path = T.export_weights(T.build_model(cfg), tmp_path / "tiny.safetensors", cfg, 1)
    acc = partb_quality(path, per_digit=2, seed=3)
    assert sorted(acc) == list(range(10)) and all(0 <= a <= 1 for a in acc.values())
    r = compare([(path, False)], per_digit=2, seed=3, chunk=20)
    assert abs(sum(acc.values()) / 10 - r["models"][0]["accuracy"]) < 1e-6
