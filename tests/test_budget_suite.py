"""configs/budget_cpu.yaml (issue 15): the grid resolves as planned; every control's shortened
schedule spends exactly its budget; data-scale cells differ only in ``train_fraction``."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from stbench.benchmarks.config import ConfigError, config_hash, load_suite, workload_signature
from stbench.benchmarks.engine import run_schedule
from stbench.pruning.schedule import merged_note

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "configs" / "budget_cpu.yaml"


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    return load_suite(SUITE, data_root=tmp_path_factory.mktemp("empty"))


def test_the_grid_holds_every_block(grid):
    suite, specs = grid
    keys = [s.key() for s in specs]
    per = Counter((k["experiment"], k["dataset"], k["model"]) for k in keys)
    assert per[("main", "LOS-LOOP", "stid")] == 112 and per[("scale", "BEIJING-AQ", "stid")] == 189
    assert {d for (e, d, m) in per if e == "main"} == {"LOS-LOOP", "AQI36", "HANGZHOU-METRO", "BEIJING-AQ"}
    assert {k["optimizer"] for k in keys} == {"adam", "sgd", "muon"}
    assert len(specs) == len({s.hash for s in specs}) == 902
    assert {s.config["train"]["batch_size"] for s in specs if s.config["model"]["name"] == "stid"
            and s.config["dataset"]["name"] != "HANGZHOU-METRO" and s.config["dataset"]["name"] != "ERA5-UK-T2M"} == {64}


def test_every_control_spends_its_budget_exactly(grid):
    _, specs = grid
    too_short = set()
    for s in specs:
        st = s.config["strategy"]
        if st["name"] != "full" or st.get("budget") in (None, 1, 1.0):
            continue
        e_ref = s.config["train"]["epochs"]
        e_b, milestones = run_schedule(s.config)
        if merged_note(s.config["train"]["milestones"], e_ref, e_b, st["budget"]):  # the documented rule
            too_short.add((s.config["dataset"]["name"], s.config["model"]["name"], st["budget"]))
            continue
        assert abs(e_b - st["budget"] * e_ref) < 1e-3, (s.run_id, e_b, st["budget"], e_ref)
        firing = [m for m in milestones if m < e_b]
        assert firing == sorted(set(firing)), (s.run_id, milestones)   # distinct and ordered
    # 12 epochs with [1, 5, 8] cannot shrink to 3 or 2 epochs at distinct epochs: merged, as measured
    assert too_short == {("BEIJING-AQ", "stid", 0.25), ("BEIJING-AQ", "stid", 0.166667), ("AQI36", "gwnet", 0.25)}


def test_data_scale_cells_differ_from_main_only_in_train_fraction(grid):
    _, specs = grid
    by = {}
    for s in specs:
        if s.config["dataset"]["name"] == "BEIJING-AQ" and s.config["strategy"]["label"] == "full" \
                and s.config["strategy"].get("budget") in (None, 1.0, 1) and s.config["seed"] == 0:
            by[s.config["dataset"]["train_fraction"]] = s
    assert sorted(by) == [0.125, 0.25, 0.5, 1.0]
    sigs = {workload_signature(s.config) for s in by.values()}
    assert len(sigs) == 4
    for f, s in by.items():
        cfg = {**s.config, "dataset": {**s.config["dataset"], "train_fraction": 1.0}}
        assert config_hash(cfg) == config_hash(by[1.0].config), f


def _suite(tmp_path, dataset_block: str) -> list:
    f = tmp_path / "s.yaml"
    f.write_text("name: t\nprofile: smoke\ndatasets: [SYNTHETIC]\nmodels: [stid]\nstrategies: [full]\n"
                 f"ratios: [0.5]\nseeds: [0]\n{dataset_block}")
    return load_suite(f, data_root=tmp_path)[1]


def test_train_fraction_is_range_checked_and_neutral_at_one(tmp_path):
    base = _suite(tmp_path, "")[0]
    one = _suite(tmp_path, "dataset: {train_fraction: 1.0}\n")[0]
    assert base.hash == one.hash
    half = _suite(tmp_path, "dataset: {train_fraction: 0.5}\n")[0]
    assert half.hash != base.hash
    with pytest.raises(ConfigError, match="train_fraction"):
        _suite(tmp_path, "dataset: {train_fraction: 1.5}\n")


def test_train_fraction_runs_and_gets_a_results_column_only_when_used(tmp_path):
    import pandas as pd

    from stbench.benchmarks.runner import run_suite

    base = ("name: t\nprofile: smoke\ndatasets: [SYNTHETIC]\nmodels: [stid]\nstrategies: [full]\n"
            "ratios: [0.5]\nseeds: [0]\ntrain: {epochs: 1, batch_size: 64}\n")
    plain = tmp_path / "plain.yaml"
    plain.write_text(base + "dataset: {max_steps: 400}\n")
    run_suite(plain, out=tmp_path / "a", quiet=True, report=False)
    assert "train_fraction" not in pd.read_csv(tmp_path / "a" / "results.csv").columns
    scaled = tmp_path / "scaled.yaml"
    scaled.write_text(base + "experiments:\n  - {name: all, dataset: {max_steps: 400}}\n"
                      "  - {name: quarter, dataset: {max_steps: 400, train_fraction: 0.25}}\n")
    run_suite(scaled, out=tmp_path / "b", quiet=True, report=False)
    df = pd.read_csv(tmp_path / "b" / "results.csv").sort_values("train_fraction")
    assert list(df["train_fraction"]) == [0.25, 1.0]
    n_all, n_quarter = df["full_sample_passes"].iloc[1], df["full_sample_passes"].iloc[0]
    assert n_quarter == -(-n_all // 4)    # ceil(n / 4) windows, one epoch
