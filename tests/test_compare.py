"""`compare A B`: the reproducibility check between two results directories."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from stbench.benchmarks.cli import main
from stbench.benchmarks.compare import compare_dirs

METRICS = {"best_epoch": 7, "sample_passes": 1000, "steps": 16, "epochs": 10, "selected_digest": "ab12",
           "train_seconds": 3.2, "test": {"mae": 1.25, "rmse": 2.5, "mae@3": 1.0}}


def put(root: Path, run_id: str, **changes) -> None:
    m = json.loads(json.dumps(METRICS))
    for k, v in changes.items():
        if k.startswith("test_"):
            m["test"][k[5:]] = v
        else:
            m[k] = v
    d = root / "runs" / run_id
    d.mkdir(parents=True, exist_ok=True)
    (d / "metrics.json").write_text(json.dumps(m))


def test_identical_different_and_timing_ignored(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    put(a, "r1"), put(a, "r2"), put(a, "r3")
    put(b, "r1", train_seconds=99.0)                 # timings are not compared
    put(b, "r2", test_mae=1.25 + 1e-12)               # one ulp-level change is a difference
    put(b, "r4")                                     # only in b
    res = compare_dirs(a, b)
    assert res["common"] == ["r1", "r2"] and res["identical"] == ["r1"] and res["only_b"] == ["r4"]
    assert res["different"]["r2"] == [("test.mae", 1.25, 1.25 + 1e-12)]
    assert compare_dirs(a, b, rtol=1e-9)["different"] == {}
    assert main(["compare", str(a), str(b)]) == 1
    assert "DIFFERENT r2" in capsys.readouterr().out
    assert main(["compare", str(a), str(b), "--rtol", "1e-9"]) == 0


@pytest.mark.parametrize("change", [{"selected_digest": "ff00"}, {"best_epoch": 8}, {"steps": 17}])
def test_selection_and_schedule_differences_are_reported(tmp_path, change):
    put(tmp_path / "a", "r1")
    put(tmp_path / "b", "r1", **change)
    (key,) = change
    assert [d[0] for d in compare_dirs(tmp_path / "a", tmp_path / "b", rtol=0.5)["different"]["r1"]] == [key]


def test_no_common_runs_or_missing_dir_is_an_error(tmp_path, capsys):
    put(tmp_path / "a", "r1")
    put(tmp_path / "b", "r2")
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "nope")]) == 2
    assert "no runs/ directory" in capsys.readouterr().err
