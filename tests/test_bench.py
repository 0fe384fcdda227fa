"""The benchmark (python -m fundiff.bench) runs end to end on tiny sizes; its workers report errors."""
import json

import pytest

from fundiff import bench


def test_bench_runs_side_by_side_in_separate_processes(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--workloads", "train-time", "sample-partb", "--repeats", "1", "--iters", "1",
                       "--hidden", "8", "--batch-size", "8", "--sample-steps", "2", "--no-flops",
                       "--json", str(out)]) == 0
    rows = {r["workload"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"train-time", "sample-partb"}
    for r in rows.values():
        assert r["baseline_img_s"] > 0 and r["fast_img_s"] > 0
        assert r["ratio"] == pytest.approx(r["fast_img_s"] / r["baseline_img_s"])
    assert rows["train-time"]["batch"] == 8 and set(rows["train-time"]["rusage"]) == {"base", "fast"}
    text = capsys.readouterr().out
    assert "each in a fresh process" in text and "ratio" in text


def test_a_failing_workload_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"worker train_step_fn\(kind=.no-such-model., fast=False\) failed: KeyError"):
        bench.Worker(bench.train_step_fn, kind="no-such-model", fast=False)
