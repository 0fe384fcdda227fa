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


def _fake_compare(specs, asked, correct, seed):
    """A compare() result from given correctness vectors (what compare writes, without sampling)."""
    from fundiff.metrics import noise_seeds, summarize

    per_digit = len(asked) // 10
    return dict(summarize(specs, asked, correct), per_digit=per_digit, guidance_scale=5.0, seed=seed,
                chunk=500, noise_seeds=noise_seeds(per_digit, seed, 500), device="cpu")


def test_pooled_compare_runs_equal_one_run_with_all_samples():
    """pool() of compare results on disjoint noise gives the accuracies, per-digit shares and paired
    interval of one run over the concatenated samples; overlapping noise, other models or another γ
    are clear errors."""
    import json

    from fundiff.metrics import difference_from_counts, paired_difference, pool, summarize

    g = torch.Generator().manual_seed(0)
    specs = [("plain.safetensors", True), ("fast.safetensors", True)]
    asked = torch.arange(10).repeat(30)
    parts = [[torch.rand(300, generator=g) < p for p in (0.8, 0.85)] for _ in range(3)]
    runs = [json.loads(json.dumps(_fake_compare(specs, asked, c, seed))) for c, seed in zip(parts, (0, 1, 7))]
    got = pool(runs)
    whole = summarize(specs, asked.repeat(3), [torch.cat([c[i] for c in parts]) for i in range(2)])
    for m, w in zip(got["models"], whole["models"]):
        assert abs(m["accuracy"] - w["accuracy"]) < 1e-6  # float32 means
        assert all(abs(m["per_digit"][d] - w["per_digit"][d]) < 1e-6 for d in range(10))
        assert m["vs_first"]["a_only"] == w["vs_first"]["a_only"] and m["vs_first"]["n"] == 900
        assert all(abs(a - b) < 1e-9 for a, b in zip(m["vs_first"]["ci95_points"], w["vs_first"]["ci95_points"]))
    assert got["per_digit"] == 90 and got["noise_seeds"] == [0, 1, 7]
    a, b = parts[0]
    assert difference_from_counts(int((a & ~b).sum()), int((~a & b).sum()), 300) == paired_difference(a, b)

    with pytest.raises(ValueError, match="noise seed 1"):
        pool([runs[0], runs[1], runs[1]])
    other = json.loads(json.dumps(runs[1]))
    other["models"][1]["weights"] = "fast_s1.safetensors"
    with pytest.raises(ValueError, match="same models"):
        pool([runs[0], other])
    across = pool([runs[0], other, runs[1]], across_models=True)  # same noise, other weights: allowed
    assert across["models"][1]["weights"] == "fast.safetensors + fast_s1.safetensors"
    other["guidance_scale"] = 7.0
    with pytest.raises(ValueError, match="guidance scales"):
        pool([runs[0], other], across_models=True)
    with pytest.raises(ValueError, match="discordant"):
        difference_from_counts(5, 6, 10)


def test_pool_cli_reads_compare_json_files(tmp_path, capsys):
    import json

    from fundiff.metrics import main

    g = torch.Generator().manual_seed(1)
    specs = [("a.safetensors", False), ("b.safetensors", False)]
    asked = torch.arange(10).repeat(2)
    for seed in (0, 1):
        c = [torch.rand(20, generator=g) < 0.7 for _ in specs]
        (tmp_path / f"r{seed}.json").write_text(json.dumps(_fake_compare(specs, asked, c, seed)))
    assert main(["pool", str(tmp_path / "r0.json"), str(tmp_path / "r1.json"), "--json", str(tmp_path / "p.json")]) == 0
    assert "2 compare runs pooled: 4 per digit" in capsys.readouterr().out
    assert json.loads((tmp_path / "p.json").read_text())["models"][1]["vs_first"]["n"] == 40
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(SystemExit):
        main(["pool", str(tmp_path / "bad.json")])
    assert "not compare --json files" in capsys.readouterr().err
