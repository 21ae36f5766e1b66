"""Budget-first report: paired intervals, budget tables, time to accuracy, performance profile,
duplicate cells, trust flags, interval-scale data, determinism and old-format files.

The fixture: 2 workloads (dsA: ratio scale, error scale 1; dsB: interval scale, error scale
300) x strategies full / random / rs2 / stprune-b at budgets 1, 0.5, 0.25 x seeds 0-2, plus
a native infobatch run per seed (no budget, ratio 0.5). E = 8 reference epochs, n = 100
windows. Per run (seed s, relative offset a = OFFSET[(strategy, b)][s])::

    mae     = K * REF[s] * (1 + a)        (so dMAE vs full@1 = 100 a, vs control = 100 (a - a_ctrl))
    passes  = b E n (full@b: round(b E) epochs of n windows)
    val(e)  = K * REF[s] * (1 + a) * (1 + 0.2 * 0.5 ** e)
    train seconds per epoch = passes per epoch * 0.01 * SPEED[workload](s)
"""
from __future__ import annotations

import math
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sstats

from stbench.benchmarks import stats
from stbench.benchmarks.report import REQUIRED_COLUMNS, build_report_data, load_results, write_report
from stbench.benchmarks.report_budget import TAU_MAX, budget_table, time_to_target, tta_rows
from stbench.benchmarks.report_profile import performance_profile
from stbench.benchmarks.report_figures import DPI, WIDTH

E, N = 8, 100
SEEDS = (0, 1, 2)
BUDGETS = (1.0, 0.5, 0.25)
REF = {0: 3.00, 1: 3.03, 2: 2.98}
#: dataset -> (workload signature, error scale K, value_scale, seconds factor of seed s)
WORKLOADS = {"dsA": ("aaaa1111", 1.0, "ratio", lambda s: 1.0 + 0.1 * s),
             "dsB": ("bbbb2222", 300.0, "interval", lambda s: 1.0 + 0.2 * s)}
OFFSET = {
    ("full", 0.5): (0.010, 0.012, 0.008), ("full", 0.25): (0.040, 0.035, 0.045),
    ("random", 1.0): (0.001, -0.002, 0.002), ("random", 0.5): (0.015, 0.008, 0.014),
    ("random", 0.25): (0.080, 0.070, 0.090),
    ("rs2", 1.0): (0.002, 0.001, 0.000), ("rs2", 0.5): (0.005, 0.006, 0.004),
    ("rs2", 0.25): (0.045, 0.030, 0.050),
    ("stprune-b", 1.0): (0.003, 0.002, 0.004), ("stprune-b", 0.5): (0.011, 0.013, 0.010),
    ("stprune-b", 0.25): (0.038, 0.041, 0.036),
    ("infobatch", None): (0.009, 0.010, 0.011),
}
PRUNER = {"full": "full", "random": "random", "rs2": "rs2", "stprune-b": "stprune", "infobatch": "infobatch"}
NATIVE_REACHED = 0.62
#: stprune-b at 0.25, seed 1 spends two windows per epoch too many (flagged); random at 0.25,
#: seed 2 five passes in all (within one window per epoch: not flagged)
EXTRA_PASSES = {("stprune-b", 0.25, 1): 2 * E, ("random", 0.25, 2): 5}


def _offset(strategy, budget, seed):
    if strategy == "full" and budget == 1.0:
        return 0.0
    return OFFSET[(strategy, budget)][seed]


def run_row(dataset, strategy, budget, seed, *, run_id=None, finished_at=None, mae_shift=0.0,
            slow=1.0):
    sig, k, scale, speed = WORKLOADS[dataset]
    a = _offset(strategy, budget, seed) + mae_shift
    epochs = E if strategy != "full" or budget is None else int(round(budget * E))
    if budget is None:  # native: no budget, own prune ratio
        passes = NATIVE_REACHED * E * N
    else:
        passes = budget * E * N + EXTRA_PASSES.get((strategy, budget, seed), 0)
    mae = k * REF[seed] * (1 + a)
    train = passes * 0.01 * speed(seed) * slow
    full_budget = "" if dataset == "dsA" else "1"  # dsA writes full@1's budget empty, dsB as 1
    row = {
        "run_id": run_id or f"{dataset}-{strategy}-b{budget}-s{seed}",
        "dataset": dataset, "model": "m1", "strategy": strategy, "pruner": PRUNER[strategy],
        "ratio": 0.0 if strategy == "full" else (0.5 if budget is None else round(1 - budget, 6)),
        "seed": seed, "profile": "cpu", "status": "finished", "error": "", "params": 100,
        "mae": mae, "rmse": 2 * mae, "mape": mae / 50,
        "val_mae_best": mae, "best_epoch": epochs - 1, "epochs": epochs, "train_seconds": train,
        "eval_seconds": 1.0, "pruner_seconds": 0.0, "total_seconds": train + 1.0, "sample_passes": passes,
        "full_sample_passes": N * E, "steps": passes / 10, "kept_fraction": passes / (N * E),
        "budget": (full_budget if (strategy == "full" and budget == 1.0) else ("" if budget is None else budget)),
        "budget_reached": passes / (N * E), "reference_epochs": E, "optimizer": "adam", "workload": sig,
        "value_scale": scale, "wape": mae / (10 * k) / 3, "finished_at": finished_at or "2024-05-01T12:00:00Z",
    }
    for h, f in ((3, 0.8), (6, 1.0), (12, 1.3)):
        row.update({f"mae@{h}": f * mae, f"rmse@{h}": 2 * f * mae, f"mape@{h}": f * mae / 50})
    return row


def curve_of(row) -> pd.DataFrame:
    epochs = int(row["epochs"])
    e = np.arange(epochs)
    per_epoch = row["sample_passes"] / epochs
    val = row["mae"] * (1 + 0.2 * 0.5 ** e)
    kept = row["kept_fraction"] if row["strategy"] != "full" else 1.0
    return pd.DataFrame({
        "epoch": e, "wall_seconds": np.cumsum(np.full(epochs, row["train_seconds"] / epochs + 0.1)),
        "train_seconds": row["train_seconds"] / epochs, "eval_seconds": 0.1, "pruner_seconds": 0.0,
        "train_loss": 1.0 / (e + 1), "val_mae": val, "kept_fraction": kept,
        "sample_passes": per_epoch, "steps": per_epoch / 10, "lr": 1e-3,
        "test_mae": val * 0.98, "test_rmse": val * 2, "test_wape": val / 30})


def grid_rows():
    rows = []
    for d in WORKLOADS:
        for b in BUDGETS:
            for st in ("full", "random", "rs2", "stprune-b"):
                rows += [run_row(d, st, b, s) for s in SEEDS]
        # the native InfoBatch run trains 1.5x slower per pass than it should (efficiency flag)
        rows += [run_row(d, "infobatch", None, s, slow=1.5 if d == "dsA" else 1.0) for s in SEEDS]
    return rows


#: two runs of one cell (dsA random 0.5 seed 0): the newer one wins although its run id sorts first
DUP_NEW = run_row("dsA", "random", 0.5, 0, run_id="dsA-random-b0.5-s0-aaa", finished_at="2024-06-02T08:00:00Z")
DUP_OLD = run_row("dsA", "random", 0.5, 0, run_id="dsA-random-b0.5-s0-zzz", finished_at="2024-06-01T08:00:00Z",
                  mae_shift=0.5)


def write_dir(root: Path, rows) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(root / "results.csv", index=False)
    for row in rows:
        d = root / "runs" / row["run_id"]
        d.mkdir(parents=True, exist_ok=True)
        curve_of(row).to_csv(d / "curve.csv", index=False)
    return root


def _grid_rows_with_duplicates():
    return [r for r in grid_rows() if r["run_id"] != "dsA-random-b0.5-s0"] + [DUP_OLD, DUP_NEW]


@pytest.fixture(scope="module")
def budget_dir(tmp_path_factory) -> Path:
    return write_dir(tmp_path_factory.mktemp("budget"), _grid_rows_with_duplicates())


@pytest.fixture(scope="module")
def report(budget_dir):
    return write_report(budget_dir)


@pytest.fixture(scope="module")
def data(budget_dir):
    return build_report_data(budget_dir)


def key_of(dataset):
    return (dataset, "m1", "cpu", "adam", WORKLOADS[dataset][0])


def section(text: str, title: str) -> str:
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def md_rows(block: str, first_header: str = None) -> list:
    """Rows (dicts) of the first Markdown table in ``block`` (or the one whose header starts
    with ``first_header``)."""
    lines = block.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("| ")
                 and (first_header is None or ln.startswith(f"| {first_header}")))
    table = []
    for ln in lines[start:]:
        if not ln.startswith("|"):
            break
        table.append(ln)
    header = [c.strip() for c in table[0].strip("|").split(" | ")]
    return [dict(zip(header, (c.strip() for c in ln[2:-2].split(" | ")))) for ln in table[2:]]


TITLE_A = "dsA · m1 · adam (profile cpu, workload aaaa1111)"
TITLE_B = "dsB · m1 · adam (profile cpu, workload bbbb2222)"


# ----------------------------------------------------------------------------- statistics
def test_paired_t_interval_matches_scipy_and_prints_ties():
    a = {0: 1.0, 1: 1.4, 2: 1.1, 3: 9.0}
    b = {0: 0.5, 1: 0.6, 2: 0.7}  # seed 3 unpaired: left out
    d = np.array([0.5, 0.8, 0.4])
    iv = stats.paired_difference(a, b)
    half = sstats.t.ppf(0.975, 2) * np.std(d, ddof=1) / math.sqrt(3)
    assert iv.n == 3 and iv.mean == pytest.approx(d.mean())
    assert (iv.lo, iv.hi) == (pytest.approx(d.mean() - half), pytest.approx(d.mean() + half))
    assert not iv.is_tie
    assert stats.fmt_interval(iv) == f"{d.mean():+.2f} [{d.mean() - half:+.2f}, {d.mean() + half:+.2f}]"
    tie = stats.mean_interval([0.5, -0.4, 0.6])
    assert tie.is_tie and stats.fmt_interval(tie).startswith("tie [")
    one = stats.mean_interval([0.7])
    assert one.n == 1 and not one.has_interval and not one.is_tie
    assert stats.fmt_interval(one) == "+0.70 (n=1)"
    assert stats.fmt_interval(stats.mean_interval([])) == ""
    # order of the values does not change a bit
    assert stats.mean_interval([0.1, 0.7, 0.3]) == stats.mean_interval([0.3, 0.1, 0.7])


# ----------------------------------------------------------------------------- budget tables
def _expected_dmae(strategy, budget, against=None):
    """Interval of the per-seed dMAE (%) against full@1 (or the control at ``against``)."""
    vals = [100 * (_offset(strategy, budget, s) - (0.0 if against is None else _offset("full", against, s)))
            for s in SEEDS]
    return stats.mean_interval(vals), vals


def test_budget_cells_against_full_and_control(data, report):
    t = budget_table(data, key_of("dsA"))
    assert t.budgets == [1.0, 0.5, 0.25]
    cells = dict(t.rows)
    assert list(cells) == ["full", "random", "rs2", "stprune-b"]
    for strategy in ("rs2", "stprune-b"):
        for b in (0.5, 0.25):
            got = cells[strategy][b]
            exp, vals = _expected_dmae(strategy, b)
            n = len(vals)
            half = sstats.t.ppf(0.975, n - 1) * np.std(vals, ddof=1) / math.sqrt(n)
            assert got.vs_ref.mean == pytest.approx(np.mean(vals))
            assert got.vs_ref.lo == pytest.approx(np.mean(vals) - half)
            exp_c, _ = _expected_dmae(strategy, b, against=b)
            assert got.vs_ctrl.mean == pytest.approx(exp_c.mean)
            assert got.vs_ctrl.hi == pytest.approx(exp_c.hi)
            assert got.pass_x == pytest.approx(1 / b, rel=0.03)
    # rs2 at 0.5: interval below the control's (-0.50 %); random at 0.5: wider than the margin
    assert cells["rs2"][0.5].vs_ctrl.hi < 0 and cells["rs2"][0.5].v_ctrl.word == stats.BETTER
    assert cells["random"][0.5].v_ctrl.word == stats.UNRESOLVED
    md = section(report["budget.md"].read_text(encoding="utf-8"), TITLE_A)
    assert "margin delta = 1 % of full@1's MAE" in md and "95 % paired t intervals" in md
    row = {r["Strategy"]: r for r in md_rows(md, "Strategy")}
    rs2 = cells["rs2"][0.5]
    assert row["rs2"]["b=0.5 (2×) vs control (%)"] == stats.fmt_verdict(rs2.v_ctrl, rs2.p_ctrl_adj)
    assert row["rs2"]["b=0.5 (2×) vs control (%)"].startswith(stats.fmt_interval(exp_c_rs2 := _expected_dmae(
        "rs2", 0.5, against=0.5)[0]) + " better")
    assert exp_c_rs2.n == 3
    assert " not resolved (adj. p " in row["random"]["b=0.5 (2×) vs control (%)"]
    assert row["full (control)"]["b=1 (1×) vs full@1 (%)"] == "ref"
    assert row["full (control)"]["b=0.5 (2×) vs control (%)"] == "ctrl"
    ctrl = cells["full"][0.25]
    assert row["full (control)"]["b=0.25 (4×) vs full@1 (%)"] == stats.fmt_verdict(ctrl.v_ref, ctrl.p_ref_adj)
    # best per budget (selected on validation): full@1 at b = 1, rs2 at 0.5; stprune-b missed 0.25
    assert "- b = 1 (1×): full data at budget 1 (the reference)" in md
    assert "Best setting per budget (selected on validation" in md
    rs2_mae = np.mean([REF[s] * (1 + _offset("rs2", 0.5, s)) for s in SEEDS])
    assert f"- b = 0.5 (2×): rs2, validation MAE {rs2_mae:.3f}, test MAE {rs2_mae:.3f}; vs full@1 " in md
    # ... a setting that missed the budget is never ranked best there: it is named apart
    line = next(x for x in md.splitlines() if x.startswith("- b = 0.25 (4×): "))
    assert not line.startswith("- b = 0.25 (4×): stprune-b")
    assert line.endswith("Missed this budget, not ranked: stprune-b (reached 0.26).")


def _holm_direct(ps):
    """Holm by its definition: sort, multiply the i-th smallest (0-based) by m - i, running max, cap 1."""
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    out, running = [0.0] * len(ps), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(ps) - rank) * ps[i]))
        out[i] = running
    return out


def test_verdicts_and_adjusted_p_over_the_report_family(data):
    from stbench.benchmarks.report_budget import budget_tables, family_sizes, in_family
    tables = budget_tables(data)
    members = [(name, b, cell) for t in tables.values() for name, cells in t.rows for b, cell in cells.items()
               if in_family(name, b, cell, "ctrl")]
    # every pruner cell that kept to its budget (b = 1 included: its control is full@1); stprune-b 0.25 missed
    assert len(members) == family_sizes(data)["ctrl"] == 2 * (3 * 3 - 1)
    assert all(name != "full" and not cell.missed for name, _, cell in members)
    for name, b, cell in members:  # the p-value is the paired t-test of the per-seed differences
        _, vals = _expected_dmae(name, b, against=None if b == 1.0 else b)
        assert cell.v_ctrl.p == pytest.approx(sstats.ttest_1samp(vals, 0.0).pvalue)
    holm = _holm_direct([cell.v_ctrl.p for _, _, cell in members])
    assert [cell.p_ctrl_adj for _, _, cell in members] == pytest.approx(holm)
    # the full@1 family: the controls at b < 1 join it, full@1 itself does not
    ref_members = [(name, b) for t in tables.values() for name, cells in t.rows for b, cell in cells.items()
                   if in_family(name, b, cell, "ref")]
    assert ("full", 0.5) in ref_members and ("full", 1.0) not in ref_members
    assert family_sizes(data)["ref"] == len(ref_members)


def test_benjamini_hochberg_option_and_margin_flag(budget_dir, tmp_path):
    from stbench.benchmarks.report import VerdictRules, rules_from
    from stbench.benchmarks.report_budget import budget_tables, in_family
    d = build_report_data(budget_dir, VerdictRules(margin_pct=0.3, adjust="bh"))
    members = [c for t in budget_tables(d).values() for n, cells in t.rows for b, c in cells.items()
               if in_family(n, b, c, "ctrl")]
    ps = [c.v_ctrl.p for c in members]
    assert [c.p_ctrl_adj for c in members] == pytest.approx(sstats.false_discovery_control(ps, method="bh"))
    rs2 = dict(budget_tables(d)[key_of("dsA")].rows)["rs2"][0.5]
    assert rs2.v_ref.margin == 0.3 and rs2.v_ref.word == stats.WORSE   # [+0.25, +0.75] not inside +-0.3
    out = write_report(budget_dir, tmp_path / "bh", figures=False, rules=VerdictRules(margin_pct=0.3, adjust="bh"))
    text = out["budget_summary.md"].read_text(encoding="utf-8")
    assert "margin delta = 0.3 % of full@1's MAE; p-values adjusted by Benjamini-Hochberg" in text
    assert rules_from({"margin": 2, "adjust": "bh"}) == VerdictRules(2.0, stats.LEVEL, "bh")
    with pytest.raises(ValueError, match="report.margn"):
        rules_from({"margn": 2}, "report.margn")
    with pytest.raises(ValueError, match="adjust 'bonferroni' unknown"):
        rules_from({"adjust": "bonferroni"})


def test_best_setting_is_selected_on_validation_not_test(tmp_path):
    """At b = 0.5 random has the lowest test MAE but rs2 the lowest validation MAE: rs2 is named."""
    rows = [r for r in grid_rows() if r["dataset"] == "dsA"]
    for r in rows:
        if r["budget"] == 0.5 and r["strategy"] == "random":
            r["mae"] = r["mae"] * 0.9                      # best on test ...
            r["val_mae_best"] = r["val_mae_best"] * 1.2    # ... worst on validation
    d = build_report_data(write_dir(tmp_path / "res", rows))
    from stbench.benchmarks.report_budget import best_at
    t = budget_table(d, key_of("dsA"))
    cells = dict(t.rows)
    assert min(cells, key=lambda n: cells[n][0.5].mae) == "random"
    name, cell = best_at(t.rows, 0.5)
    assert name == "rs2" and cell is cells["rs2"][0.5]
    line = next(x for x in t.best if x.startswith("b = 0.5"))
    assert line.startswith(f"b = 0.5 (2×): rs2, validation MAE {cell.val:.3f}, test MAE {cell.mae:.3f}")


def test_missed_budget_flagged_with_the_budget_reached(report, data):
    t = budget_table(data, key_of("dsA"))
    cells = dict(t.rows)
    assert cells["stprune-b"][0.25].missed == 1          # 2 windows per epoch over
    assert cells["random"][0.25].missed == 0             # 5 passes over in all: within one per epoch
    reached = np.mean([0.25, (200 + 2 * E) / 800, 0.25])
    md = section(report["budget.md"].read_text(encoding="utf-8"), TITLE_A)
    row = {r["Strategy"]: r for r in md_rows(md, "Strategy")}
    assert row["stprune-b"]["b=0.25 (4×) Pass ×"].endswith(f"⚠ reached {reached:.2f}")
    assert "⚠" not in row["random"]["b=0.25 (4×) Pass ×"]
    assert "(!) reached" in report["budget.tex"].read_text(encoding="utf-8")


def test_native_runs_in_their_own_labelled_rows(report):
    md = section(report["budget.md"].read_text(encoding="utf-8"), TITLE_A)
    main = md_rows(md, "Strategy | n")
    assert "infobatch" not in {r["Strategy"] for r in main}
    assert "Native runs (no budget" in md
    native = md_rows(md.split("Native runs", 1)[1], "Strategy | Ratio")
    assert len(native) == 1
    r = native[0]
    assert (r["Strategy"], r["Ratio"], r["Reached b"], r["Control b"]) == ("infobatch", "0.5", "0.620", "0.5")
    assert r["1/b"] == f"{1 / 0.62:.2f}×"
    vals = [100 * (o - c) for o, c in zip(OFFSET[("infobatch", None)], OFFSET[("full", 0.5)])]
    v = stats.verdict(vals)
    # outside the adjusted families: the unadjusted p is printed and says so
    assert r["vs control"] == stats.fmt_verdict(v, v.p, p_label="unadj. p")


# ----------------------------------------------------------------------------- time to accuracy
def test_time_to_target_seconds_passes_and_not_reached():
    curve = pd.DataFrame({"epoch": [0, 1, 2, 3], "val_mae": [5.0, 3.0, 2.5, 2.0],
                          "train_seconds": [1.0, 1.0, 2.0, 2.0], "sample_passes": [10, 10, 5, 5],
                          "test_mae": [np.nan, 2.9, 2.4, 1.9]})
    t = time_to_target(curve, 2.5)  # reached at epoch 2, inclusive
    assert (t.seconds, t.passes, t.test_mae, t.epoch) == (4.0, 25.0, 2.4, 2.0) and t.reached
    never = time_to_target(curve, 1.9)
    assert not never.reached and math.isinf(never.seconds) and math.isinf(never.passes)
    assert time_to_target(curve.drop(columns="sample_passes"), 2.5) is None
    assert time_to_target(None, 2.5) is None


def _direct_tta(row, target):
    """TTA of a fixture run computed from the closed form of its curve."""
    c = curve_of(row)
    for e, v in enumerate(c["val_mae"]):
        if v <= target:
            return (float(c["train_seconds"][:e + 1].sum()), float(c["sample_passes"][:e + 1].sum()),
                    float(c["test_mae"][e]))
    return (math.inf, math.inf, math.nan)


def test_tta_values_speedups_and_table(data, report):
    eps = 0.01
    rows = {r.setting.label: r for r in tta_rows(data, key_of("dsB"), eps)}
    for label, (strategy, budget) in {"rs2 b=0.5": ("rs2", 0.5), "full": ("full", 1.0),
                                      "random b=0.25": ("random", 0.25)}.items():
        for s in SEEDS:
            full = run_row("dsB", "full", 1.0, s)
            target = (1 + eps) * float(curve_of(full)["val_mae"].min())
            exp = _direct_tta(run_row("dsB", strategy, budget, s), target)
            got = rows[label].tta[s]
            assert (got.seconds, got.passes) == (pytest.approx(exp[0]), pytest.approx(exp[1]))
            if math.isfinite(exp[1]):
                ref = _direct_tta(full, target)
                assert rows[label].speed_passes[s] == pytest.approx(ref[1] / exp[1])
                assert got.test_mae == pytest.approx(exp[2])
            else:
                assert rows[label].speed_passes[s] == 0.0
    assert rows["random b=0.25"].reached == 0
    md = section(report["tta.md"].read_text(encoding="utf-8"), TITLE_B)
    assert md.index("### eps = 1 %") < md.index("### eps = 0.5 %") < md.index("### eps = 2 %")
    table = {(r["Strategy"], r["Budget"]): r for r in md_rows(md.split("### eps = 1 %", 1)[1])}
    assert table[("random", "0.25")]["TTA passes"] == "not reached"
    assert table[("random", "0.25")]["Speedup (passes)"] == "not reached"
    assert table[("full", "-")]["Speedup (passes)"] == "1 (ref)"
    sp = rows["rs2 b=0.5"]
    if sp.reached == sp.n:
        exp = stats.mean_interval(sp.speed_passes.values())
        assert table[("rs2", "0.5")]["Speedup (passes)"] == stats.fmt_interval(exp, signed=False, tie=False)
    # ratio-based results get TTA too: the native infobatch row (ratio 0.5, no budget)
    assert ("infobatch", "-") in table


def _direct_interp_passes(row, target):
    """Passes of a fixture run to ``target``, interpolated between the epochs around the crossing."""
    c = curve_of(row)
    cum = np.cumsum(c["sample_passes"].to_numpy(dtype=float))
    val = c["val_mae"].to_numpy(dtype=float)
    for e in range(len(val)):
        if val[e] <= target:
            if e == 0:
                return float(cum[0])
            return float(cum[e - 1] + (cum[e] - cum[e - 1]) * (val[e - 1] - target) / (val[e - 1] - val[e]))
    return math.inf


def _profile_settings():
    return [("full", 1.0)] + [(st, b) for b in BUDGETS for st in ("full", "random", "rs2", "stprune-b")
                              if not (st == "full" and b == 1.0)] + [("infobatch", None)]


def _label(st, b):
    return "full" if (st, b) == ("full", 1.0) else (f"{st} r=0.5" if b is None else f"{st} b={b:g}")


def test_performance_profile_values(data, report):
    prof = performance_profile(data)
    assert prof.workloads == [key_of("dsA"), key_of("dsB")]
    # direct: target = 1.01 x the median over seeds of full@1's best validation MAE; per seed the
    # interpolated passes to it; the median over seeds; r = that / the fastest setting's
    expected = {}
    for d in WORKLOADS:
        target = 1.01 * float(np.median([curve_of(run_row(d, "full", 1.0, s))["val_mae"].min() for s in SEEDS]))
        assert prof.targets[key_of(d)] == pytest.approx(target)
        times = {}
        for st, b in _profile_settings():
            rows = [DUP_NEW if (d, st, b, s) == ("dsA", "random", 0.5, 0) else run_row(d, st, b, s) for s in SEEDS]
            times[_label(st, b)] = float(np.median([_direct_interp_passes(r, target) for r in rows]))
        best = min(t for t in times.values() if math.isfinite(t))
        for label, t in times.items():
            expected.setdefault(label, []).append(t / best)
    # full@1's seed with the highest best validation MAE misses the median target: not by construction
    assert set(prof.labels) == set(expected)
    for label, rs in expected.items():
        got = [prof.ratios[label][k] for k in prof.workloads]
        assert got == pytest.approx(rs)
        score = np.mean([max(0.0, TAU_MAX - r) / (TAU_MAX - 1) if math.isfinite(r) else 0.0 for r in rs])
        assert prof.score(label) == pytest.approx(score)
        assert prof.rho(label, 2.0) == pytest.approx(np.mean([r <= 2.0 for r in rs]))
    assert any(math.isfinite(r) and r != int(r) for rs in expected.values() for r in rs)   # interpolated
    text = report["profile.md"].read_text(encoding="utf-8")
    rows = {r["Setting"]: r for r in md_rows(text, "Setting | Ran")}
    assert rows["full"]["Score"] == f"{prof.score('full'):.3f}"
    assert "- W1: " + TITLE_A in text and "- W2: " + TITLE_B in text


def test_profile_counts_a_setting_missing_on_a_workload_as_infinite(tmp_path):
    """rs2 b=0.5 did not run on dsB: r = inf there, and its score is over both workloads."""
    rows = [r for r in grid_rows() if not (r["dataset"] == "dsB" and r["strategy"] == "rs2" and r["budget"] == 0.5)]
    d = build_report_data(write_dir(tmp_path / "res", rows))
    prof = performance_profile(d)
    assert prof.workloads == [key_of("dsA"), key_of("dsB")]
    label = "rs2 b=0.5"
    assert key_of("dsB") not in prof.ratios[label] and prof.r(label, key_of("dsB")) == math.inf
    r_a = prof.r(label, key_of("dsA"))
    assert math.isfinite(r_a)
    assert prof.score(label) == pytest.approx((max(0.0, TAU_MAX - r_a) / (TAU_MAX - 1) + 0.0) / 2)
    assert prof.rho(label, TAU_MAX) == pytest.approx(0.5 if r_a <= TAU_MAX else 0.0)
    text = write_report(tmp_path / "res", figures=False)["profile.md"].read_text(encoding="utf-8")
    row = next(r for r in md_rows(text.split("## r_sw per workload", 1)[1], "Setting") if r["Setting"] == label)
    assert row["W2"] == "not run"


def test_profile_median_over_seeds_and_passgrid(tmp_path):
    """One seed that never reaches the target does not make a setting infinite (median of 3);
    a run's passgrid.csv, when present, replaces its per-epoch curve."""
    from stbench.benchmarks.report_profile import interpolated_tta
    rows = [r for r in grid_rows() if r["dataset"] == "dsA"]
    for r in rows:
        if r["strategy"] == "random" and r["budget"] == 1.0 and r["seed"] == 2:
            r["mae"] = r["mae"] * 1.5     # this seed's validation never gets near the target
    res = write_dir(tmp_path / "res", rows)
    prof = performance_profile(build_report_data(res))
    assert prof.seeds["random b=1"][key_of("dsA")] == 3 and prof.reached["random b=1"][key_of("dsA")] == 2
    assert math.isfinite(prof.r("random b=1", key_of("dsA")))
    # passgrid: the run of random b=0.5 seed 0 reaches the target at 100 passes, 50 between the grid points
    target = prof.targets[key_of("dsA")]
    grid = pd.DataFrame({"passes": [0, 80, 120, 160], "train_seconds": [0.0, 8.0, 12.0, 16.0],
                         "val_mae": [9.0, target + 1.0, target - 1.0, target - 2.0], "epoch": [0, 1, 1, 2]})
    grid.to_csv(res / "runs" / "dsA-random-b0.5-s0" / "passgrid.csv", index=False)
    assert interpolated_tta(grid["passes"], grid["train_seconds"], grid["val_mae"], target) == (100.0, 10.0)
    from stbench.benchmarks.report_profile import run_tta_passes
    assert run_tta_passes(build_report_data(res), "dsA-random-b0.5-s0", target) == pytest.approx(100.0)
    assert interpolated_tta([10, 20], [1, 2], [5.0, 4.0], 3.0) == (math.inf, math.inf)
    assert interpolated_tta([10, 20], [1, 2], [2.0, 1.0], 3.0) == (10.0, 1.0)


# ----------------------------------------------------------------------------- cells, flags, scales
def test_duplicate_cell_newest_finished_at_wins_and_is_noted(data, report):
    used = set(data.finished["run_id"])
    assert DUP_NEW["run_id"] in used and DUP_OLD["run_id"] not in used
    assert len(data.set_aside) == 1
    index = report["index.md"].read_text(encoding="utf-8")
    aside = index.split("## Runs set aside\n", 1)[1]
    assert (f"Duplicate finished run {DUP_OLD['run_id']} of dsA / m1 / random (ratio 0.5, budget 0.5) seed 0 "
            f"set aside: run {DUP_NEW['run_id']} of the same cell finished later (2024-06-02T08:00:00Z).") in aside
    assert "1 set aside (duplicates)" in index


def test_same_finish_time_falls_back_to_the_last_run_id(tmp_path):
    a = run_row("dsA", "full", 1.0, 0, run_id="r-a", finished_at="")
    b = run_row("dsA", "full", 1.0, 0, run_id="r-b", finished_at="")
    res = write_dir(tmp_path / "res", [a, b])
    d = build_report_data(res)
    assert list(d.finished["run_id"]) == ["r-b"]
    assert "has the same or no finish time and the last run id" in d.set_aside[0]


def test_table_key_has_optimizer_and_workload_and_budget_column(data, report):
    assert data.table_key == ("dataset", "model", "profile", "optimizer", "workload")
    md = report["tables.md"].read_text(encoding="utf-8")
    rows = md_rows(section(md, TITLE_A))
    assert list(rows[0])[:4] == ["Strategy", "Ratio", "Budget", "n"]
    # full@1 (budget empty in dsA, 1 in dsB) is the reference row of both tables
    for title in (TITLE_A, TITLE_B):
        first = md_rows(section(md, title))[0]
        assert (first["Strategy"], first["Budget"], first["Wall ×"].split(" ")[0]) == ("full", "-", "1.00")
    assert "WAPE avg (%)" in rows[0] and "dMAE 95% CI" in rows[0]
    summary = pd.read_csv(report["summary.csv"])
    assert {"budget", "optimizer", "workload", "wape_mean", "dmae_pct_lo", "value_scale"} <= set(summary.columns)


def test_two_workloads_of_one_model_get_their_own_tables_and_names(tmp_path):
    rows = [r for r in grid_rows() if r["dataset"] == "dsA" and r["budget"] in ("", 0.5)]
    other = [{**r, "run_id": r["run_id"] + "-sgd", "optimizer": "sgd", "workload": "cccc3333"} for r in rows]
    d = build_report_data(write_dir(tmp_path / "res", rows + other))
    keys = d.table_keys()
    assert keys == [("dsA", "m1", "cpu", "adam", "aaaa1111"), ("dsA", "m1", "cpu", "sgd", "cccc3333")]
    assert [d.slug(k) for k in keys] == ["dsa_m1_cpu_adam_aaaa1111", "dsa_m1_cpu_sgd_cccc3333"]
    assert d.title(keys[1]) == "dsA · m1 · sgd (profile cpu, workload cccc3333)"
    assert len(d.select(d.finished, keys[1])) == len(other)


def test_mape_never_bold_for_interval_scale(report):
    md = report["tables.md"].read_text(encoding="utf-8")
    for title, scale in ((TITLE_A, "ratio"), (TITLE_B, "interval")):
        block = section(md, title)
        rows = md_rows(block)
        ratio_cols = [c for c in rows[0] if c.startswith("MAPE") or c.startswith("WAPE")]
        bold = [c for c in ratio_cols for r in rows if r[c].startswith("**")]
        mae_bold = [r for r in rows if r["MAE avg"].startswith("**")]
        assert mae_bold
        if scale == "interval":
            assert bold == [] and "MAPE and WAPE are meaningless for interval-scale data" in block
        else:
            assert bold and "meaningless" not in block
    tex = report["tables.tex"].read_text(encoding="utf-8")
    assert "interval-scale" in tex


def test_trust_flags_efficiency_and_machine_load(data, report):
    md = report["tables.md"].read_text(encoding="utf-8")
    a, b = section(md, TITLE_A), section(md, TITLE_B)
    # dsA: native InfoBatch trains 1.5x slower per pass -> Eff. ~0.67 is flagged
    native = next(r for r in md_rows(a) if r["Strategy"] == "infobatch")
    assert native["Eff."].endswith("‡") and "‡ efficiency outside [0.8, 1.25]" in a
    assert not any(r["Eff."].endswith("‡") for r in md_rows(a) if r["Strategy"] != "infobatch")
    # full-data epochs: dsA seeds run at 1.0/1.1/1.2 (20 %: fine); dsB at 1.0/1.2/1.4 (40 %: load)
    assert not data.load_flagged(key_of("dsA")) and data.load_flagged(key_of("dsB"))
    lo, hi, spread = data.load_check(key_of("dsB"))
    assert spread == pytest.approx(0.4)
    assert "§ machine load" in b and "§" not in a
    rows_b = md_rows(b)
    assert rows_b[0]["Wall ×"] == "1.00 ± 0.00" and all(r["Wall ×"].endswith("§") for r in rows_b[1:])
    budget_b = section(report["budget.md"].read_text(encoding="utf-8"), TITLE_B)
    assert "§ machine load" in budget_b and md_rows(budget_b)[1]["b=0.5 (2×) Wall ×"].endswith("§")
    assert "§" not in section(report["budget.md"].read_text(encoding="utf-8"), TITLE_A)
    eff = report["efficiency.md"].read_text(encoding="utf-8")
    assert "Machine load: full-data epochs took" in section(eff, TITLE_B)
    assert "machine load; Wall × and Eff. of this table are not results" in section(eff, TITLE_B)
    assert "within 25%" in section(eff, TITLE_A)


def test_budget_tex_is_balanced(report):
    tex = report["budget.tex"].read_text(encoding="utf-8")
    body = "\n".join(ln for ln in tex.splitlines() if not ln.startswith("%"))
    plain = body.replace("\\\\", "  ").replace(r"\{", "").replace(r"\}", "").replace(r"\%", "")
    depth = 0
    for ch in plain:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0
    stack = []
    for kind, env in re.findall(r"\\(begin|end)\{(\w+)\}", body):
        if kind == "begin":
            stack.append(env)
        else:
            assert stack.pop() == env
    assert not stack and body.count(r"\begin{table}") == 2
    for table in body.split(r"\begin{tabular}{")[1:]:
        ncols = len(table.split("}", 1)[0])
        rows = table.split(r"\end{tabular}")[0].split(r"\toprule", 1)[1]
        for line in rows.replace("\\\\", "  ").splitlines():
            if line.rstrip().endswith("  ") and "multicolumn" not in line:
                assert line.count("&") == ncols - 1, line
    assert "×" not in body and "⚠" not in body


# ----------------------------------------------------------------------------- outputs
TEXT_OUTPUTS = ("tables.md", "tables.tex", "summary.csv", "summary.md", "convergence.md", "efficiency.md",
                "budget.md", "budget.tex", "tta.md", "profile.md", "index.md")


def test_byte_identical_for_shuffled_rows_and_columns(budget_dir, tmp_path):
    first = write_report(budget_dir, tmp_path / "a", figures=False)
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    df = pd.read_csv(budget_dir / "results.csv", dtype=str, keep_default_na=False)
    df = df.sample(frac=1.0, random_state=3)[list(reversed(df.columns))]
    df.to_csv(shuffled / "results.csv", index=False)
    shutil.copytree(budget_dir / "runs", shuffled / "runs")
    second = write_report(shuffled, tmp_path / "b", figures=False)
    for name in TEXT_OUTPUTS:
        assert first[name].read_bytes() == second[name].read_bytes(), name


def test_figures_written_png_and_pdf(report):
    for name in ("budget_accuracy", "tta", "pareto", "val_curve", "kept_fraction"):
        for d in WORKLOADS:
            stem = f"figures/{name}_{d.lower()}_m1_cpu"  # (data set, model, profile) is unique here
            png, pdf = report[f"{stem}.png"], report[f"{stem}.pdf"]
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert struct.unpack(">I", png.read_bytes()[16:20])[0] == round(WIDTH * DPI)
            assert pdf.read_bytes()[:5] == b"%PDF-"
    assert report["figures/performance_profile.png"].stat().st_size > 5000
    assert report["figures/performance_profile.pdf"].read_bytes()[:5] == b"%PDF-"
    index = report["index.md"].read_text(encoding="utf-8")
    for name in ("budget.md", "budget.tex", "tta.md", "profile.md", "figures/performance_profile.png"):
        assert f"- `{name}`: " in index
    assert "| budgets | 0.25, 0.5, 1 |" in index and "| workloads | aaaa1111, bbbb2222 |" in index


def test_old_format_results_without_the_new_columns(tmp_path):
    old = [r for r in grid_rows() if r["budget"] in ("",) and r["dataset"] == "dsA"]
    assert {r["strategy"] for r in old} == {"full", "infobatch"}
    res = tmp_path / "old"
    res.mkdir()
    pd.DataFrame(old)[list(REQUIRED_COLUMNS)].to_csv(res / "results.csv", index=False)
    for row in old:
        d = res / "runs" / row["run_id"]
        d.mkdir(parents=True)
        curve_of(row).drop(columns=["test_mae", "test_rmse", "test_wape"]).to_csv(d / "curve.csv", index=False)
    runs = load_results(res)
    assert runs["budget"].isna().all() and (runs["workload"] == "").all()
    out = write_report(res)
    data = build_report_data(res)
    assert data.table_key == ("dataset", "model", "profile") and not data.has_budget
    assert "No budget runs in this results directory" in out["budget.md"].read_text(encoding="utf-8")
    md = out["tables.md"].read_text(encoding="utf-8")
    rows = md_rows(section(md, "dsA · m1 (profile cpu)"))
    assert "Budget" not in rows[0] and "WAPE avg (%)" not in rows[0]
    summary = pd.read_csv(out["summary.csv"])
    assert not {"budget", "optimizer", "workload", "value_scale"} & set(summary.columns)
    tta = section(out["tta.md"].read_text(encoding="utf-8"), "dsA · m1 (profile cpu)")
    row = next(r for r in md_rows(tta.split("### eps = 1 %", 1)[1]) if r["Strategy"] == "infobatch")
    assert row["Test MAE at target"] == ""  # old curves have no test_mae
    assert "figures/tta_dsa_m1_cpu.png" in out and "figures/val_curve_dsa_m1_cpu.png" in out
    index = out["index.md"].read_text(encoding="utf-8")
    assert "- budget_accuracy for all workloads: no budget runs in this results directory" in index


# ----------------------------------------------------------------------------- budget_summary.md
def _cell(mean, lo, hi, n=3, mae=1.0, missed=0, margin=1.0):
    from stbench.benchmarks.report_budget import Cell
    iv = stats.Interval(mean, lo, hi, n)
    v = stats.Verdict(iv, margin, stats.classify(iv, margin), 0.01 if (hi < 0 or lo > 0) else 0.5)
    return Cell(n=n, mae=mae, vs_ref=iv, vs_ctrl=stats.EMPTY, pass_x=1.0, wall_x=1.0, reached=0.5, missed=missed,
                v_ref=v)


def test_saving_without_loss_stops_at_the_first_budget_that_fails():
    from stbench.benchmarks.report_summary import affordable
    rows = [("full", {0.5: _cell(0.5, -0.2, 0.9), 0.25: _cell(3.0, 2.0, 4.0), 0.125: _cell(0.1, -0.5, 0.5)}),
            ("random", {0.5: _cell(1.0, 0.5, 1.5), 0.25: _cell(0.4, -0.1, 0.9), 0.125: _cell(2, 1, 3)}),
            ("rs2", {0.5: _cell(-1.0, -1.5, -0.5), 0.25: _cell(0.0, -0.5, 0.5, missed=1),
                     0.125: _cell(0.0, -0.5, 0.5, n=2)}),
            ("static", {0.5: _cell(0.1, -2.0, 1.5)})]   # a tie that cannot exclude a 2 % loss
    budgets = [0.5, 0.25, 0.125]
    # control: equivalent at 0.5, worse at 0.25 -> 2x, although it is equivalent again at 0.125
    assert affordable(rows, budgets, lambda n: n == "full") == (0.5, ["full"])
    # pruners: rs2 better at 0.5; at 0.25 rs2 missed its budget, random is equivalent; at 0.125 rs2
    # has 2 seeds (underpowered): nothing
    assert affordable(rows, budgets, lambda n: n != "full") == (0.25, ["random"])
    # any setting: full or rs2 at 0.5, random at 0.25, full again at 0.125
    assert affordable(rows, budgets, lambda n: True) == (0.125, ["full"])
    # worse at the largest budget, or a tie wider than the margin ("not resolved"): none
    assert math.isnan(affordable(rows[1:2], budgets, lambda n: True)[0])
    assert math.isnan(affordable(rows[3:4], budgets, lambda n: True)[0])


def test_budget_summary_best_per_budget_and_counts(report, data):
    text = report["budget_summary.md"].read_text()
    assert "margin delta = 1 % of full@1's MAE; p-values adjusted by Holm" in text
    best = {r["Workload"]: r for r in md_rows(section(text, "Best setting per budget"))}
    a = best["dsA · m1 · adam (cpu)"]      # the short title: one page over every workload
    # b = 0.5: rs2 has the lowest validation MAE (offsets 0.5/0.6/0.4 %): worse than full@1 and better
    # than the control before the adjustment, neither survives it with 3 seeds
    rs2 = dict(budget_table(data, key_of("dsA")).rows)["rs2"][0.5]
    assert a["b=0.5 (2×)"] == (f"rs2 {stats.fmt_verdict(rs2.v_ref, rs2.p_ref_adj)}; better n.s. vs control "
                               f"(adj. p {stats.fmt_p(rs2.p_ctrl_adj)})")
    # b = 0.25: stprune-b is lower still but seed 1 missed its budget: the control is best
    assert a["b=0.25 (4×)"].startswith("control +4.00 [")
    assert a["n (train)"] == "100" and a["full@1 MAE"] == f"{np.mean(list(REF.values())):.3f}"
    saving = {r["Workload"]: r for r in md_rows(section(text, "Saving without loss"))}
    # the control is worse at 0.5 with an interval [+0.5, +1.5] beyond the margin; rs2 [+0.25, +0.75] inside it
    assert saving["dsA · m1 · adam (cpu)"]["Control"] == "-"
    assert saving["dsA · m1 · adam (cpu)"]["Pruning strategies"] == "2× (rs2)"
    assert saving["dsA · m1 · adam (cpu)"]["Budgets run"] == "0.5, 0.25"
    counts = {r["Strategy"]: r for r in md_rows(section(text, "Against the control, per strategy"))}
    # rs2 better at 0.5 in both workloads before the adjustment; after it, inside the margin: equivalent
    assert counts["rs2"]["Better"] == "0" and counts["rs2"]["n.s."] == "2"
    assert counts["rs2"]["Equivalent"] == "2" and counts["stprune-b"]["Missed"] == "2"


def test_budget_summary_only_with_budget_runs(tmp_path):
    rows = [{**r, "budget": ""} for r in grid_rows() if r["budget"] in ("", "1") and r["strategy"] != "infobatch"]
    out = write_report(write_dir(tmp_path / "res", rows), figures=False)
    assert "budget_summary.md" not in out and not (tmp_path / "res" / "report" / "budget_summary.md").exists()


def test_train_fraction_titles_and_order(tmp_path):
    rows = [r for r in grid_rows() if r["dataset"] == "dsA"]
    small = [{**r, "run_id": r["run_id"] + "-f8", "workload": "0000dddd", "train_fraction": 0.125,
              "full_sample_passes": r["full_sample_passes"] / 8, "sample_passes": r["sample_passes"] / 8}
             for r in rows]
    d = build_report_data(write_dir(tmp_path / "res", [{**r, "train_fraction": 1.0} for r in rows] + small))
    keys = d.table_keys()
    assert [k[-1] for k in keys] == ["aaaa1111", "0000dddd"]    # the whole span first, whatever the hash
    assert d.title(keys[1]) == "dsA · m1 · adam · last 1/8 of the training windows (profile cpu, workload 0000dddd)"
    assert d.title(keys[0]) == TITLE_A


def test_margin_and_adjust_flags_reach_the_report(budget_dir, tmp_path, capsys):
    from stbench.benchmarks.cli import build_parser
    from stbench.benchmarks.report import main as report_main, rules_of_args
    args = build_parser().parse_args(["report", str(budget_dir), "--margin", "2", "--adjust", "bh"])
    assert (args.margin, args.adjust) == (2.0, "bh")
    assert rules_of_args(args).margin_pct == 2.0 and rules_of_args(args).adjust == "bh"
    assert report_main([str(budget_dir), "--out", str(tmp_path / "r"), "--no-figures", "--margin", "2",
                        "--adjust", "bh"]) == 0
    capsys.readouterr()
    md = (tmp_path / "r" / "budget.md").read_text(encoding="utf-8")
    assert "margin delta = 2 % of full@1's MAE; p-values adjusted by Benjamini-Hochberg" in md
    tables = (tmp_path / "r" / "tables.md").read_text(encoding="utf-8")
    assert "margin delta = 2 % of full@1's MAE" in tables
