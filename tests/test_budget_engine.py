"""Budgets in the config and the engine; run identity; strict inputs (config, runner, CLI).

The pruners' own budget logic is tested in tests/test_budget_pruners.py, the report's in
tests/test_report_budget.py.
"""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from stbench.benchmarks.config import ConfigError, RunSpec, config_hash, load_suite, resolve_run, parse_strategy
from stbench.benchmarks.engine import LOSSES, run_schedule, train
from stbench.benchmarks.runner import run_suite

REPO = Path(__file__).resolve().parents[1]

TINY = """
name: tiny
profile: smoke
datasets: [SYNTHETIC]
models: [stid]
strategies: [full, random, infobatch]
budgets: [1, 0.5]
seeds: [0]
dataset: {max_steps: 400}
train: {epochs: 4, batch_size: 64, milestones: [2, 3]}
"""


def write(tmp_path, text, name="suite.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# ----------------------------------------------------------------------------- the budget axis
def test_budget_axis_cells(tmp_path):
    _, specs = load_suite(write(tmp_path, TINY))
    cells = sorted(((s.config["strategy"]["label"], s.config["strategy"].get("budget"),
                     s.config["strategy"]["ratio"]) for s in specs), key=str)
    # full at budget 1 is the ordinary full-data run; infobatch (published form) cannot target a
    # budget: it runs once at its own ratio; random runs at each budget
    assert cells == [("full", 0.5, 0.0), ("full", None, 0.0), ("infobatch", None, 0.5),
                     ("random", 0.5, 0.0), ("random", 1.0, 0.0)]
    ids = {s.config["strategy"]["label"] + str(s.config["strategy"].get("budget")): s.run_id for s in specs}
    assert "_b0.500_s0_" in ids["full0.5"] and "_r0.00_s0_" in ids["fullNone"]


def test_full_at_budget_1_is_the_ratio_grid_full_run(tmp_path):
    _, a = load_suite(write(tmp_path, TINY))
    _, b = load_suite(write(tmp_path, TINY.replace("budgets: [1, 0.5]", "ratios: [0.5]"), "r.yaml"))
    full_a = [s for s in a if s.config["strategy"]["label"] == "full" and "budget" not in s.config["strategy"]]
    full_b = [s for s in b if s.config["strategy"]["label"] == "full"]
    assert full_a[0].run_id == full_b[0].run_id


def test_budgeted_needs_a_budget_and_native_refuses_one(tmp_path):
    text = TINY.replace("strategies: [full, random, infobatch]",
                        "strategies: [full, {label: ib, name: infobatch, params: {budgeted: true}}]")
    with pytest.raises(ConfigError, match="budgeted: true but no budget"):
        load_suite(write(tmp_path, text.replace("budgets: [1, 0.5]", "ratios: [0.5]")))
    with pytest.raises(ConfigError, match="cannot target a budget"):
        parse_strategy({"name": "infobatch", "budget": 0.5}, "here")


@pytest.mark.parametrize("replace, needle", [
    (("budgets: [1, 0.5]", "budgets: [0]"), "budget must be in (0, 1]"),
    (("budgets: [1, 0.5]", "budgets: [1.5]"), "budget must be in (0, 1]"),
    (("budgets: [1, 0.5]", "budgets: [abc]"), "budget must be in (0, 1] (a number), got 'abc'"),
    (("budgets: [1, 0.5]", "ratios: [\"abc\"]"), "prune ratio must be in [0, 1) (a number), got 'abc'"),
    (("seeds: [0]", "seeds: [-1]"), "seeds must be integers >= 0, got -1"),
    (("dataset: {max_steps: 400}", "dataset: {max_steps: 400, in_steps: 0}"), "dataset.in_steps must be an integer >= 1"),
    (("batch_size: 64", "batch_size: 0"), "train.batch_size must be an integer >= 1"),
    (("milestones: [2, 3]", "milestones: [0]"), "train.milestones must be a list of epochs"),
    (("epochs: 4,", "epochs: 4, loss: huber,"), "train.loss must be one of sample_mean, pooled"),
    (("seeds: [0]", "seeds: [0]\nseeds: [1]"), "duplicate key 'seeds'"),
])
def test_bad_input_is_a_clear_config_error(tmp_path, replace, needle):
    with pytest.raises(ConfigError) as e:
        load_suite(write(tmp_path, TINY.replace(*replace)))
    assert needle in str(e.value)
    assert "suite.yaml" in str(e.value)


def test_duplicate_key_names_the_line(tmp_path):
    with pytest.raises(ConfigError, match=r"line \d+"):
        load_suite(write(tmp_path, TINY.replace("seeds: [0]", "seeds: [0]\nseeds: [1]")))


def test_only_value_matching_nothing_lists_the_valid_values(tmp_path):
    with pytest.raises(ConfigError, match="strategy=nonexistent: matches no cell.*full, infobatch, random"):
        run_suite(write(tmp_path, TINY), only=["strategy=nonexistent"], dry_run=True, out=tmp_path / "o")
    with pytest.raises(ConfigError, match="expected a number"):
        run_suite(write(tmp_path, TINY), only=["budget=half"], dry_run=True, out=tmp_path / "o")
    res = run_suite(write(tmp_path, TINY), only=["budget=none"], dry_run=True, out=tmp_path / "o", quiet=True)
    assert res["runs"] == 2  # full (budget 1) and the native infobatch


def test_out_on_a_file_is_a_clear_error(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(ConfigError, match="is a file; expected a results directory"):
        run_suite(write(tmp_path, TINY), out=f, quiet=True)


# ----------------------------------------------------------------------------- the schedule
def test_run_schedule_shortens_full_and_scales_milestones():
    cfg = {"train": {"epochs": 30, "milestones": [1, 20, 30]}, "strategy": {"name": "full", "budget": 0.5}}
    assert run_schedule(cfg) == (15, [1, 10, 15])
    cfg["strategy"]["budget"] = 0.167
    assert run_schedule(cfg) == (5, [1, 3, 5])
    cfg["strategy"] = {"name": "random", "budget": 0.5}  # pruners plan against E
    assert run_schedule(cfg) == (30, [1, 20, 30])
    cfg["strategy"] = {"name": "full"}
    assert run_schedule(cfg) == (30, [1, 20, 30])


def test_shortened_milestones_stay_distinct_or_merge_with_a_note():
    from stbench.pruning.schedule import merged_note
    cfg = {"train": {"epochs": 12, "milestones": [1, 5, 8]}, "strategy": {"name": "full", "budget": 1 / 3}}
    assert run_schedule(cfg) == (4, [1, 2, 3])
    # 24 epochs at 1/6: 1, 10/6, 16/6 round to 1, 2, 3 of 4 epochs
    assert run_schedule({"train": {"epochs": 24, "milestones": [1, 10, 16]},
                         "strategy": {"name": "full", "budget": 1 / 6}}) == (4, [1, 2, 3])
    # a milestone that lands on its predecessor's epoch moves to the next one
    assert run_schedule({"train": {"epochs": 20, "milestones": [1, 3, 14]},
                         "strategy": {"name": "full", "budget": 0.25}}) == (5, [1, 2, 4])
    # 12 epochs at 1/4 and 1/6: [1, 5, 8] cannot stay apart in 3 or 2 epochs: the documented rule
    # merges them (plain rounding), and merged_note says so; none is needed where they stay apart
    for b, short, merged in ((0.25, 3, [1, 1, 2]), (1 / 6, 2, [1, 1, 1])):
        cfg["strategy"]["budget"] = b
        assert run_schedule(cfg) == (short, merged)
        assert merged_note([1, 5, 8], 12, short, b).startswith(f"strategy full at budget {b:g}: its shortened "
                                                               f"schedule has {short} epoch(s)")
    assert merged_note([1, 5, 8], 12, 4, 1 / 3) == ""


def _tiny_cfg(tmp_path, label="full", budget=None, **train):
    _, specs = load_suite(write(tmp_path, TINY))
    spec = next(s for s in specs if s.config["strategy"]["label"] == label
                and s.config["strategy"].get("budget") == budget)
    cfg = json.loads(json.dumps(spec.config))
    cfg["train"].update(train)
    return cfg


def test_full_at_budget_trains_round_bE_epochs_with_scaled_lr(tmp_path):
    cfg = _tiny_cfg(tmp_path, budget=0.5)
    res = train(cfg)
    assert len(res.epochs) == 2 and res.reference_epochs == 4
    # milestones [2, 3] of 4 epochs -> [1, 2] of 2 epochs (gamma 0.5): lr halves after epoch 0
    assert [e.lr for e in res.epochs] == pytest.approx([cfg["train"]["lr"], cfg["train"]["lr"] * 0.5])


def test_test_metrics_recorded_at_every_improvement(tmp_path):
    res = train(_tiny_cfg(tmp_path, epochs=4))
    improved = [e for e in res.epochs if e.test is not None]
    assert improved and improved[0].epoch == 0
    best = [e for e in res.epochs if e.epoch == res.best_epoch][0]
    assert best.test["mae"] == res.test["mae"] and "wape" in res.test
    vals = [e.val_mae for e in res.epochs]
    for e in res.epochs:  # recorded exactly when validation improved on every earlier epoch
        assert (e.test is not None) == (e.epoch == 0 or e.val_mae < min(vals[:e.epoch]))


def test_pooled_loss_formula():
    import torch
    w = torch.tensor([1.0, 2.0, 0.5])
    per = torch.tensor([0.2, 0.4, 1.0])
    mask = torch.zeros(3, 5, 2, dtype=torch.bool)  # valid entries per sample: 10, 5, 0
    mask[0] = True
    mask[1, :, 0] = True
    assert float(LOSSES.get("sample_mean")(w, per, mask)) == pytest.approx((0.2 + 0.8 + 0.5) / 3)
    assert float(LOSSES.get("pooled")(w, per, mask)) == pytest.approx((0.2 * 10 + 0.8 * 5) / 15)


def test_pooled_loss_trains(tmp_path):
    res = train(_tiny_cfg(tmp_path, epochs=2, loss="pooled"))
    assert np.isfinite(res.test["mae"])


# ----------------------------------------------------------------------------- identity
def test_new_keys_at_their_neutral_value_keep_committed_ids():
    runs = sorted((REPO / "results" / "reproduce_cpu" / "runs").iterdir())[:20]
    assert runs
    for d in runs:
        cfg = yaml.safe_load((d / "config.yaml").read_text())
        assert d.name.endswith(config_hash(cfg)[:8])
        cfg["train"]["loss"] = "sample_mean"
        cfg["dataset"]["mape_min_target"] = 0.0
        assert d.name.endswith(config_hash(cfg)[:8])
        cfg["train"]["loss"] = "pooled"
        assert not d.name.endswith(config_hash(cfg)[:8])


def test_committed_runs_are_found_by_the_suite(tmp_path):
    """Every cell of the committed study resolves to its committed directory (identity.json)."""
    from stbench.benchmarks.store import ResultsStore
    data_root = os.environ.get("STBENCH_DATA", str(REPO.parent / "shared" / "data"))
    if not Path(data_root).is_dir():
        pytest.skip("no data root")
    _, specs = load_suite(REPO / "configs" / "reproduce_cpu.yaml", data_root=data_root)
    store = ResultsStore(REPO / "results" / "reproduce_cpu")
    found = [store.is_done(store.locate(s)) for s in specs]
    assert len(specs) == 165 and all(found)


def _user_dataset(tmp_path):
    """A user data set: the first 400 steps of LOS-LOOP's 20 first sensors, in a tmp data root."""
    src = Path(os.environ.get("STBENCH_DATA", REPO.parent / "shared" / "data")) / "LOS-LOOP"
    if not src.is_dir():
        pytest.skip("no LOS-LOOP")
    root = tmp_path / "data"
    (root / "MYLOOP").mkdir(parents=True)
    speed = pd.read_csv(src / "los_speed.csv").iloc[:400, :20]
    speed.to_csv(root / "MYLOOP" / "speed.csv", index=False)
    adj = pd.read_csv(src / "los_adj.csv", header=None).iloc[:20, :20]
    adj.to_csv(root / "MYLOOP" / "adj.csv", index=False, header=False)
    cfgdir = tmp_path / "dsconf"
    cfgdir.mkdir()
    return root, cfgdir


def test_changing_the_data_makes_the_cell_pending(tmp_path, monkeypatch):
    root, cfgdir = _user_dataset(tmp_path)
    spec = {"name": "MYLOOP", "format": "tgcn_csv", "folder": "MYLOOP", "description": "a test copy",
            "citation": "T-GCN (Zhao et al. 2020), a slice", "files": {"series": {"path": "speed.csv"}, "graph": {"path": "adj.csv"}},
            "null_value": 0, "split": [0.7, 0.1, 0.2], "time": {"start": "2012-03-01 00:00", "step_minutes": 5}}
    (cfgdir / "MYLOOP.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("STBENCH_DATASET_CONFIGS", str(cfgdir))
    suite = write(tmp_path, TINY.replace("SYNTHETIC", "MYLOOP").replace("strategies: [full, random, infobatch]",
                                                                        "strategies: [full]")
                  .replace("budgets: [1, 0.5]", "ratios: [0.5]").replace("epochs: 4", "epochs: 1").replace("milestones: [2, 3]", "milestones: []"))
    out = tmp_path / "out"
    res = run_suite(suite, out=out, data_root=root, report=False, quiet=True)
    assert res["finished"] == 1
    assert run_suite(suite, out=out, data_root=root, report=False, quiet=True)["skipped"] == 1
    # the same bytes -> still done; one value x 10 -> pending again, a new directory
    csv = root / "MYLOOP" / "speed.csv"
    df = pd.read_csv(csv)
    df.iloc[5, 3] *= 10
    df.to_csv(csv, index=False)
    res = run_suite(suite, out=out, data_root=root, report=False, quiet=True)
    assert res["finished"] == 1
    # the data set's YAML changes (null value) -> pending again
    spec["null_value"] = -1
    (cfgdir / "MYLOOP.yaml").write_text(yaml.safe_dump(spec))
    res = run_suite(suite, out=out, data_root=root, report=False, quiet=True)
    assert res["finished"] == 1
    assert len([d for d in (out / "runs").iterdir() if d.is_dir()]) == 3


# ----------------------------------------------------------------------------- failures
def test_failed_run_prints_reason_and_retry_hint(tmp_path, monkeypatch, capsys):
    from stbench.benchmarks import runner as runner

    def boom(*a, **k):
        raise RuntimeError("the model exploded")
    monkeypatch.setattr(runner, "train", boom)
    suite = write(tmp_path, TINY.replace("strategies: [full, random, infobatch]", "strategies: [full]")
                  .replace("budgets: [1, 0.5]", "ratios: [0.5]"))
    run_suite(suite, out=tmp_path / "o", report=False)
    text = capsys.readouterr().out
    assert "failed" in text and "the model exploded" in text and "--retry-failed" in text
    run_suite(suite, out=tmp_path / "o", report=False)
    assert "--retry-failed" in capsys.readouterr().out


def test_full_disk_stops_the_grid_with_one_line(tmp_path, monkeypatch):
    from stbench.benchmarks import store as store
    from stbench.benchmarks.runner import StoreFull

    real = store.atomic_write_json

    def full_disk(path, obj):
        if Path(path).name == "metrics.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, obj)
    monkeypatch.setattr(store, "atomic_write_json", full_disk)
    suite = write(tmp_path, TINY.replace("strategies: [full, random, infobatch]", "strategies: [full]")
                  .replace("budgets: [1, 0.5]", "ratios: [0.5]").replace("epochs: 4", "epochs: 1").replace("milestones: [2, 3]", "milestones: []"))
    with pytest.raises(StoreFull, match="no space left on the device") as e:
        run_suite(suite, out=tmp_path / "o", report=False, quiet=True)
    assert "\n" not in str(e.value)
    run_dir = next((tmp_path / "o" / "runs").iterdir())
    assert not (run_dir / "metrics.json").exists() and not (run_dir / "failed.json").exists()
