"""configs/suites/paper_stprune.yaml: the dry run lists every cell of the paper's grid and says
which data files are missing; the new data sets and optimisers resolve at the paper profile."""
from __future__ import annotations

from pathlib import Path

from stbench.benchmarks.config import load_suite
from stbench.benchmarks.runner import run_suite

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "configs" / "suites" / "paper_stprune.yaml"
DATASETS = {"PEMS08", "URBANEV-OCCUPANCY", "LARGEST-SD", "LARGEST-GBA", "LARGEST-GLA"}
LABELS = {"full", "random", "rs2", "stprune-b", "infobatch", "stprune"}


def test_dry_run_lists_every_cell_and_the_missing_files(tmp_path, capsys, monkeypatch):
    from stbench.benchmarks import runner as runner

    seen = {}

    def spy(*a, **k):  # the grid the dry run lists (one load of the suite for both checks)
        seen["suite"], seen["specs"] = load_suite(*a, **k)
        return seen["suite"], seen["specs"]

    monkeypatch.setattr(runner, "load_suite", spy)
    res = run_suite(SUITE, dry_run=True, out=tmp_path / "out", data_root=tmp_path / "empty")
    out = capsys.readouterr().out
    assert res["runs"] == 945 and "945 runs (945 pending, 945 without their data files)" in out
    lines = [ln for ln in out.splitlines() if ln.startswith("no-data")]
    assert len(lines) == 945
    missing = " ".join(res["missing_data"])
    for f in ("PEMS08/PEMS08.npz", "URBANEV/occupancy.csv", "URBANEV/adj.csv", "LARGEST/ca/ca_his_raw_2019.h5",
              "LARGEST/ca/ca_meta.csv", "LARGEST/ca/ca_rn_adj.npy"):
        assert f in missing, f
    assert "kaggle.com/datasets/liuxu77/largest" in missing and "data download URBANEV-OCCUPANCY" in missing
    check_grid(seen["suite"], seen["specs"])


def check_grid(suite, specs):
    keys = [s.key() for s in specs]
    assert suite["profile"] == "paper" and suite["launcher"]["gpus_per_job"] == 1
    main = [k for k in keys if k["experiment"] == "main"]
    assert {k["dataset"] for k in main} == DATASETS and {k["model"] for k in main} == {"gwnet", "stid", "staeformer"}
    assert {k["strategy"] for k in main} == LABELS and {k["seed"] for k in keys} == {0, 1, 2}
    cells = {(k["dataset"], k["model"]) for k in main}
    assert len(cells) == 15
    for d, m in cells:  # 15 cells (full at 1, 0.5, 0.3; 2 budgets x 3; 3 ratios x 2) x 3 seeds each
        assert sum(k["dataset"] == d and k["model"] == m for k in main) == 45
    assert {k["optimizer"] for k in keys} == {"adam", "sgd", "muon"}
    assert {k["dataset"] for k in keys if k["optimizer"] != "adam"} == {"PEMS08"}
    batch = {(s.key()["model"], s.config["train"]["batch_size"]) for s in specs}
    assert batch == {("gwnet", 64), ("stid", 64), ("staeformer", 16)}      # the published batches
    assert all(s.config["train"]["device"] == "cuda" for s in specs)
