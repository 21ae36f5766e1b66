"""Issue 26, engine and config side: equal optimizer steps at equal passes (c), the pass
grid (f) and tuning trials in the config (the report's selection is in
tests/test_report_attribution.py)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stbench.benchmarks.config import ConfigError, config_hash, load_suite
from stbench.benchmarks.engine import PASSGRID_COLUMNS, train
from stbench.benchmarks.runner import run_suite

STEPS = """
name: steps
profile: smoke
datasets: [SYNTHETIC]
models: [stid]
strategies:
  - {name: full, budgets: [0.25]}
  - random
  - rs2
  - {label: stprune-b, name: stprune, params: {budgeted: true}}
  - {label: stprune-b~random, name: stprune, params: {budgeted: true, selection: random}}
budgets: [0.25]
seeds: [0]
dataset: {max_steps: 400}
train: {epochs: 12, batch_size: 32, milestones: [6], equal_steps: EQUAL}
"""


def write(tmp_path, text, name="suite.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def steps_by_label(out: Path) -> dict:
    got = {}
    for d in sorted((out / "runs").iterdir()):
        if (d / "metrics.json").is_file():
            m = json.loads((d / "metrics.json").read_text())
            label = __import__("yaml").safe_load((d / "config.yaml").read_text())["strategy"]["label"]
            got[label] = (m["optimizer_steps"], m["sample_passes"])
    return got


# ----------------------------------------------------------------------------- (c) equal steps

def test_equal_steps_at_a_quarter_on_synthetic(tmp_path):
    out = tmp_path / "on"
    run_suite(write(tmp_path, STEPS.replace("EQUAL", "true")), out=out, report=False, quiet=True)
    got = steps_by_label(out)
    assert sorted(got) == ["full", "random", "rs2", "stprune-b", "stprune-b~random"]
    steps = np.array([v[0] for v in got.values()])
    assert steps.max() <= 1.02 * steps.min(), got
    passes = {k: v[1] for k, v in got.items()}
    assert len(set(passes.values())) == 1, passes          # and equal passes (b E n = round(bE) n here)
    # without the matching the pruned runs take more steps than the control (the check has power)
    off = tmp_path / "off"
    run_suite(write(tmp_path, STEPS.replace("EQUAL", "false"), "off.yaml"), out=off, report=False, quiet=True)
    base = steps_by_label(off)
    assert base["stprune-b"][0] > 1.02 * base["full"][0], base
    assert base["full"] == got["full"]


def test_equal_steps_is_identity_neutral_when_off(tmp_path):
    _, a = load_suite(write(tmp_path, STEPS.replace("EQUAL", "false")))
    _, b = load_suite(write(tmp_path, STEPS.replace(", equal_steps: EQUAL", ""), "b.yaml"))
    assert [s.run_id for s in a] == [s.run_id for s in b]
    _, c = load_suite(write(tmp_path, STEPS.replace("EQUAL", "true"), "c.yaml"))
    assert not set(s.run_id for s in a) & set(s.run_id for s in c)


# ----------------------------------------------------------------------------- (f) the pass grid

GRID = """
name: grid
profile: smoke
datasets: [SYNTHETIC]
models: [stid]
strategies: [full, {label: stprune-b, name: stprune, params: {budgeted: true}, budgets: [0.25]}]
budgets: [1]
seeds: [0]
dataset: {max_steps: 400}
train: {epochs: 8, batch_size: 32, milestones: [4, 6], pass_grid: 0.25}
"""


def hand_tta(val, passes, secs, target):
    """Time to target by hand: the first grid row whose val_mae <= target."""
    for v, p, s in zip(val, passes, secs):
        if v <= target:
            return p, s
    return float("inf"), float("inf")


def test_pass_grid_rows_tta_and_no_change_to_the_run(tmp_path):
    from stbench.benchmarks.report_attribution import grid_tta, read_passgrid

    out = tmp_path / "grid"
    run_suite(write(tmp_path, GRID), out=out, report=False, quiet=True)
    runs = {__import__("yaml").safe_load((d / "config.yaml").read_text())["strategy"]["label"]: d
            for d in (out / "runs").iterdir() if d.is_dir()}
    full, pruned = runs["full"], runs["stprune-b"]
    rows = {}
    for label, d in runs.items():
        g = pd.read_csv(d / "passgrid.csv")
        assert tuple(g.columns) == PASSGRID_COLUMNS
        m = json.loads((d / "metrics.json").read_text())
        n = m["n_train"]
        step = round(0.25 * n)
        assert g["passes"].tolist() == [step * (j + 1) for j in range(m["sample_passes"] // step)]
        assert g["train_seconds"].is_monotonic_increasing and g["train_seconds"].iloc[-1] <= m["train_seconds"] + 1e-6
        curve = pd.read_csv(d / "curve.csv")
        ends = np.cumsum(curve["sample_passes"])
        for _, r in g.iterrows():                 # the epoch a point falls in
            assert ends[int(r["epoch"])] >= r["passes"] and (r["epoch"] == 0 or ends[int(r["epoch"]) - 1] < r["passes"])
        # a point that is an epoch end reads that epoch's validation
        for _, r in g[g["passes"].isin(ends)].iterrows():
            assert r["val_mae"] == pytest.approx(curve["val_mae"].iloc[int(r["epoch"])], rel=1e-6)
        assert m["pass_grid_seconds"] > 0
        rows[label] = g
    # same resolution for the 1/4 run and the full run: n / 4 passes apart
    assert np.diff(rows["full"]["passes"]).tolist() == [step] * (len(rows["full"]) - 1)
    assert len(rows["full"]) == 4 * len(rows["stprune-b"])
    # TTA on the grid against a hand computation, at a target the full run reaches late
    target = float(np.sort(rows["full"]["val_mae"])[2]) * 1.0
    for label, g in rows.items():
        want = hand_tta(g["val_mae"], g["passes"], g["train_seconds"], target)
        got = grid_tta(read_passgrid(runs[label]), target)
        assert (got.passes, got.seconds) == pytest.approx(want)
    assert grid_tta(read_passgrid(full), -1.0).passes == float("inf")
    # the grid's evaluations change nothing of the run: same test metrics and curve without it
    plain = tmp_path / "plain"
    run_suite(write(tmp_path, GRID.replace(", pass_grid: 0.25", ""), "plain.yaml"), out=plain,
              report=False, quiet=True)
    for d in (plain / "runs").iterdir():
        if not d.is_dir():
            continue
        label = __import__("yaml").safe_load((d / "config.yaml").read_text())["strategy"]["label"]
        assert not (d / "passgrid.csv").exists()
        a = json.loads((d / "metrics.json").read_text())
        b = json.loads((runs[label] / "metrics.json").read_text())
        assert a["test"] == b["test"] and a["selected_digest"] == b["selected_digest"]
        ca, cb = pd.read_csv(d / "curve.csv"), pd.read_csv(runs[label] / "curve.csv")
        assert ca["val_mae"].tolist() == cb["val_mae"].tolist()
        assert ca["train_loss"].tolist() == cb["train_loss"].tolist()


def test_pass_grid_is_validated(tmp_path):
    with pytest.raises(ConfigError, match="pass_grid must be in"):
        load_suite(write(tmp_path, GRID.replace("pass_grid: 0.25", "pass_grid: 1.5")))


# ----------------------------------------------------------------------------- tuning trials

TUNE = """
name: tune
profile: smoke
datasets: [SYNTHETIC]
models: [stid]
strategies: [full, random]
budgets: [1, 0.5]
seeds: [0, 1]
dataset: {max_steps: 400}
train: {epochs: 4}
tuning: {lr_mult: [0.5, 1]}
"""


def test_tuning_trials_multiply_the_cells_and_keep_the_untuned_ids(tmp_path):
    _, plain = load_suite(write(tmp_path, TUNE.replace("tuning: {lr_mult: [0.5, 1]}\n", ""), "p.yaml"))
    _, tuned = load_suite(write(tmp_path, TUNE))
    assert len(tuned) == 2 * len(plain)
    untuned = [s for s in tuned if "@" not in s.config["strategy"]["label"]]
    assert [s.run_id for s in untuned] == [s.run_id for s in plain]      # trial lr x 1 = the plain run
    half = [s for s in tuned if s.config["strategy"]["label"].endswith("@lrx0.5")]
    assert len(half) == len(plain) and all(s.config["strategy"]["tuning"] == {"lr_mult": 0.5} for s in half)
    # every setting, the control (full at 0.5) and the reference included, runs every trial
    assert sorted({(s.config["strategy"]["label"], str(s.config["strategy"].get("budget"))) for s in half}) == \
        [("full@lrx0.5", "0.5"), ("full@lrx0.5", "None"), ("random@lrx0.5", "0.5"), ("random@lrx0.5", "1.0")]


def test_a_tuning_trial_multiplies_the_learning_rate(tmp_path):
    _, tuned = load_suite(write(tmp_path, TUNE))
    cfg = next(s.config for s in tuned if s.config["strategy"]["label"] == "full@lrx0.5"
               and s.config["strategy"].get("budget") is None and s.config["seed"] == 0)
    res = train(json.loads(json.dumps(cfg)))
    assert res.epochs[0].lr == pytest.approx(0.5 * cfg["train"]["lr"])


@pytest.mark.parametrize("block, needle", [("{lr: [1]}", "unknown key 'lr'"), ("{lr_mult: [0, 1]}", "tuning value"),
                                           ("{lr_mult: [1, 1]}", "distinct"), ("[1, 2]", "expected a mapping")])
def test_bad_tuning_blocks_are_clear_errors(tmp_path, block, needle):
    with pytest.raises(ConfigError, match=needle):
        load_suite(write(tmp_path, TUNE.replace("{lr_mult: [0.5, 1]}", block)))
