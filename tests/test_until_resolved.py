"""``run SUITE --until-resolved``: which cells get seeds (hand-made verdicts), the stopping
rule (precision or the cap, never significance), and an end-to-end run on SYNTHETIC (smoke)."""
from __future__ import annotations

import json

import pytest

from stbench.benchmarks import stats
from stbench.benchmarks.report import VerdictRules, build_report_data
from stbench.benchmarks.report_budget import BudgetTable, Cell, budget_tables
from stbench.benchmarks.runner import run_suite
from stbench.benchmarks.until_resolved import plan_round, precise, run_until_resolved, select

MARGIN = 1.0


def _v(lo, hi, n=3):
    iv = stats.Interval((lo + hi) / 2, lo, hi, n)
    return stats.Verdict(iv, MARGIN, stats.classify(iv, MARGIN), 0.5)


def _c(ref, ctrl=None, n=3):
    return Cell(n=n, mae=1.0, vs_ref=ref.interval, vs_ctrl=ctrl.interval if ctrl else stats.EMPTY, pass_x=2.0,
                wall_x=2.0, reached=0.5, missed=0, v_ref=ref, v_ctrl=ctrl)


KEY = ("ds", "m", "smoke", "adam", "abcd1234-000000")


def _tables():
    rows = [("full", {1.0: _c(_v(0, 0)), 0.5: _c(_v(-0.3, 0.3))}),                    # control: equivalent
            ("a", {0.5: _c(_v(-0.2, 0.4), _v(-0.9, -0.5))}),                          # equivalent, better
            ("b", {0.5: _c(_v(-1.5, 2.5), _v(-0.2, 0.2))}),                           # not resolved vs full@1
            ("c", {0.5: _c(_v(-0.1, 0.1), _v(-0.5, 0.1, n=2))}),                      # underpowered vs control
            ("d", {0.5: _c(_v(-3.0, 2.0, n=10), _v(-0.1, 0.1, n=10), n=10)}),         # not resolved at the cap
            ("e", {0.5: _c(_v(-4.0, -1.0), _v(-0.3, 0.3))})]                          # better, but wide
    return {KEY: BudgetTable(KEY, [1.0, 0.5], rows)}


def test_only_unresolved_cells_are_selected_and_the_rule_is_precision():
    tables = _tables()
    sel = select(tables)
    assert sel == [(KEY, "b", 0.5), (KEY, "c", 0.5), (KEY, "d", 0.5)]
    # once selected, a cell goes on until precision or the cap, whatever its sign
    plan = plan_round(tables, sel + [(KEY, "e", 0.5), (KEY, "a", 0.5)], MARGIN, max_seeds=10)
    assert plan.grow == [(KEY, "b", 0.5), (KEY, "c", 0.5), (KEY, "e", 0.5)]   # e is 'better' yet wide: grows
    assert plan.stopped[(KEY, "d", 0.5)].startswith("cap: 10 seeds")
    assert plan.stopped[(KEY, "a", 0.5)].startswith("precision: half-width 0.30 <= 0.5")
    # not resolved implies a half-width above delta / 2: precision never stops an unresolved cell
    assert not precise([_v(-0.05, 1.05)], MARGIN) and stats.classify(_v(-0.05, 1.05).interval, MARGIN) == \
        stats.UNRESOLVED


SUITE = """\
name: ur
profile: smoke
datasets: [SYNTHETIC]
models: [stid]
dataset: {max_steps: 300}
train: {epochs: 2, batch_size: 64}
experiments:
  - {name: main, strategies: [full, random], budgets: [1, 0.5], seeds: [0, 1, 2]}
  - {name: few, strategies: [rs2], budgets: [0.5], seeds: [0, 1]}
"""


def _seeds(out):
    seeds = {}
    for _, r in build_report_data(out).finished.iterrows():
        b = 1.0 if r["budget"] != r["budget"] else round(float(r["budget"]), 6)
        seeds.setdefault((r["strategy"], b), set()).add(int(r["seed"]))
    return seeds


def test_until_resolved_on_synthetic_adds_seeds_only_where_unresolved_and_stops_at_the_cap(tmp_path):
    suite = tmp_path / "ur.yaml"
    suite.write_text(SUITE)
    out = tmp_path / "out"
    run_suite(suite, out=out, report=False, quiet=True)
    before = _seeds(out)
    margin = 1e-6   # nothing is ever precise: every selected cell runs to the cap
    first = budget_tables(build_report_data(out, VerdictRules(margin_pct=margin)))
    selected = {(name, b) for _, name, b in select(first)}
    assert ("rs2", 0.5) in selected          # 2 seeds: underpowered
    # every selected cell, and full@1 and the control at its budget, end with seeds 0-3 (the cap)
    grow = selected | {("full", 1.0)} | {("full", b) for _, b in selected}
    res = run_until_resolved(suite, margin=margin, max_seeds=4, out=out, quiet=True, report=True)
    assert res["rounds"] == 2                # rs2 needs two seeds to reach the cap
    after = _seeds(out)
    for cell, got in after.items():
        assert got == ({0, 1, 2, 3} if cell in grow else before[cell]), cell
    assert any(cell not in grow for cell in after), "some cell was resolved and got no seed"
    record = json.loads((out / "until_resolved.json").read_text())
    assert record["max_seeds"] == 4 and record["margin"] == margin and record["rounds"] == 2
    by = {(c["strategy"], float(c["budget"])): c for c in record["cells"]}
    for cell in selected:
        c = by[cell]
        assert c["selected"] and c["seeds"] == [0, 1, 2, 3] and c["stopped"].startswith("cap: 4 seeds"), c
    for cell, c in by.items():
        if cell not in grow:
            assert c["stopped"] == "resolved after the first seeds" and set(c["seeds"]) == before[cell]
    summary = (out / "report" / "budget_summary.md").read_text(encoding="utf-8")
    assert "## Seeds per cell (run --until-resolved)" in summary and "cap: 4 seeds" in summary


def test_a_bad_report_block_fails_before_the_first_run(tmp_path):
    from stbench.benchmarks.config import ConfigError
    suite = tmp_path / "bad.yaml"
    suite.write_text(SUITE + "report: {margn: 2}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml.report: unknown key\(s\) \['margn'\]; valid keys: margin, adjust"):
        run_suite(suite, out=tmp_path / "out", quiet=True)
    assert not (tmp_path / "out" / "runs").exists()


def test_a_selectors_selection_effect_is_decisive_too():
    """A selector whose comparisons with full@1 and the control are resolved is still selected
    when its selection effect (against its plan-matched random control) is not, and the
    stopping rule counts that interval's width as well."""
    tables = _tables()
    a = (KEY, "a", 0.5)
    assert a not in select(tables)
    wide = {a: _v(-1.5, 0.7)}                       # not resolved at a margin of 1
    assert a in select(tables, wide)
    assert plan_round(tables, [a], MARGIN, max_seeds=10, selection=wide).grow == [a]
    narrow = {a: _v(-0.2, 0.2)}
    assert plan_round(tables, [a], MARGIN, max_seeds=10, selection=narrow).stopped[a].startswith("precision")


PAIRED = """\
name: urp
profile: smoke
datasets: [SYNTHETIC]
models: [stid]
dataset: {max_steps: 300}
train: {epochs: 2, batch_size: 64}
strategies:
  - {name: full, budgets: [1, 0.5]}
  - {label: stprune-b, name: stprune, params: {budgeted: true}}
  - {label: stprune-b~random, name: stprune, params: {budgeted: true, selection: random}}
budgets: [0.5]
seeds: [0, 1, 2]
"""


def test_a_selector_that_gets_a_seed_brings_its_plan_matched_random_along(tmp_path, monkeypatch):
    """Only the selector is selected (select narrowed by hand): its plan-matched random
    control, full@1 and the control still get its new seed, so the selection effect stays
    paired."""
    from stbench.benchmarks import until_resolved as ur
    suite = tmp_path / "urp.yaml"
    suite.write_text(PAIRED)
    real = ur.select
    monkeypatch.setattr(ur, "select", lambda tables, sel=None: [c for c in real(tables, sel) if c[1] == "stprune-b"])
    out = tmp_path / "out"
    res = run_until_resolved(suite, margin=1e-6, max_seeds=4, out=out, quiet=True, report=False)
    assert res["rounds"] == 1 and [c[1] for c in res["selected"]] == ["stprune-b"]
    got = _seeds(out)
    assert got[("stprune-b", 0.5)] == got[("stprune-b~random", 0.5)] == {0, 1, 2, 3}
    assert got[("full", 0.5)] == got[("full", 1.0)] == {0, 1, 2, 3}


def test_every_tuning_trial_of_a_grown_cell_gets_the_seed(tmp_path, monkeypatch):
    """With tuning trials a cell is a setting at its trial chosen on validation: the new seed
    goes to every trial of the cell and of its comparators, so the choice stays on equal seeds."""
    import pandas as pd
    from stbench.benchmarks import until_resolved as ur
    suite = tmp_path / "urt.yaml"
    suite.write_text(PAIRED.replace("seeds: [0, 1, 2]\n", "seeds: [0, 1, 2]\ntuning: {lr_mult: [0.5, 1]}\n"))
    real = ur.select
    monkeypatch.setattr(ur, "select", lambda tables, sel=None: [c for c in real(tables, sel) if c[1] == "stprune-b"])
    out = tmp_path / "out"
    run_until_resolved(suite, margin=1e-6, max_seeds=4, out=out, quiet=True, report=False)
    done = pd.read_csv(out / "results.csv")
    done = done[done["status"] == "finished"]
    seeds = {(r.strategy, r.budget if r.budget == r.budget else 1.0): set() for r in done.itertuples()}
    for r in done.itertuples():
        seeds[(r.strategy, r.budget if r.budget == r.budget else 1.0)].add(int(r.seed))
    assert len(seeds) == 8                       # 4 settings x 2 trials
    for cell, got in seeds.items():
        assert got == {0, 1, 2, 3}, cell


def test_only_sets_the_scope_and_records_of_two_scopes_merge(tmp_path):
    """--only decides which cells are selected and grown; their comparators come from the whole
    suite (full@1 and the control lie in another experiment here); a second run with another
    scope keeps the first one's cells in the record; another rule is an error."""
    from stbench.benchmarks.config import ConfigError
    suite = tmp_path / "ur.yaml"
    suite.write_text(SUITE)
    out = tmp_path / "out"
    run_suite(suite, out=out, report=False, quiet=True)
    before = _seeds(out)
    res = run_until_resolved(suite, margin=1e-6, max_seeds=3, out=out, only=["experiment=few"], quiet=True,
                             report=False)
    assert [c[1:] for c in res["selected"]] == [("rs2", 0.5)] and res["rounds"] == 1
    after = _seeds(out)
    assert after[("rs2", 0.5)] == {0, 1, 2}
    assert {k: v for k, v in after.items() if k != ("rs2", 0.5)} == \
        {k: v for k, v in before.items() if k != ("rs2", 0.5)}      # main's cells: no new seed
    rec = json.loads((out / "until_resolved.json").read_text())
    assert rec["done"] and rec["rounds"] == 1
    assert [(c["strategy"], c["budget"], c["first_seeds"]) for c in rec["cells"]] == [("rs2", "0.5", 2)]
    assert rec["cells"][0]["stopped"].startswith("cap: 3 seeds")
    with pytest.raises(ConfigError, match=r"until_resolved.json: written with --margin 1e-06 --max-seeds 3; "
                                          r"this run asks for --margin 1e-06 --max-seeds 4"):
        run_until_resolved(suite, margin=1e-6, max_seeds=4, out=out, only=["experiment=main"], quiet=True,
                           report=False)
    run_until_resolved(suite, margin=1e-6, max_seeds=3, out=out, only=["experiment=main"], quiet=True, report=False)
    rec = json.loads((out / "until_resolved.json").read_text())
    by = {(c["strategy"], c["budget"]): c for c in rec["cells"]}
    assert set(by) == {("full", "1"), ("full", "0.5"), ("random", "1"), ("random", "0.5"), ("rs2", "0.5")}
    assert by[("rs2", "0.5")]["stopped"].startswith("cap: 3 seeds")          # kept from the first scope
    for cell, c in by.items():
        if cell != ("rs2", "0.5"):     # main's cells have 3 seeds, the cap: decided now, none grows
            assert c["first_seeds"] == 3 and c["stopped"].startswith(
                "cap: 3 seeds" if c["selected"] else ("reference", "resolved after the first seeds")), c
    assert rec["rounds"] == 1 and _seeds(out) == after


def test_an_interrupted_run_leaves_its_record_and_a_rerun_keeps_the_first_selection(tmp_path, monkeypatch):
    """The record is written after the selection and after every round; a rerun takes each
    cell's selection from it (a cell is selected once, on its first seeds) and goes on."""
    from stbench.benchmarks import runner
    suite = tmp_path / "ur.yaml"
    suite.write_text(SUITE)
    out = tmp_path / "out"
    run_suite(suite, out=out, report=False, quiet=True)
    real = runner.execute

    def stop_after_two(spec, store, **kw):      # the suite's own runs are skipped (done); two new runs, then ^C
        if stop_after_two.n >= 2:
            raise KeyboardInterrupt
        status = real(spec, store, **kw)
        stop_after_two.n += status == "finished"
        return status
    stop_after_two.n = 0
    monkeypatch.setattr(runner, "execute", stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        run_until_resolved(suite, margin=1e-6, max_seeds=5, out=out, quiet=True, report=False)
    rec = json.loads((out / "until_resolved.json").read_text())
    by = {(c["strategy"], c["budget"]): c for c in rec["cells"]}
    assert not rec["done"] and rec["rounds"] == 1          # round 1 (rs2's seed 2) finished, round 2 cut
    rs2 = by[("rs2", "0.5")]
    assert rs2["selected"] and rs2["first_seeds"] == 2 and rs2["stopped"].startswith("going on")
    assert not by[("full", "0.5")]["selected"]
    # the record's decision stands: select the control by hand, and the rerun grows it as well
    by[("full", "0.5")]["selected"] = True
    (out / "until_resolved.json").write_text(json.dumps(rec))
    monkeypatch.setattr(runner, "execute", real)
    res = run_until_resolved(suite, margin=1e-6, max_seeds=5, out=out, quiet=True, report=True)
    assert sorted(c[1:] for c in res["selected"]) == [("full", 0.5), ("rs2", 0.5)]
    got = _seeds(out)
    assert got[("rs2", 0.5)] == got[("full", 0.5)] == got[("full", 1.0)] == {0, 1, 2, 3, 4}
    assert got[("random", 0.5)] == {0, 1, 2}
    rec = json.loads((out / "until_resolved.json").read_text())
    by = {(c["strategy"], c["budget"]): c for c in rec["cells"]}
    assert rec["done"] and rec["rounds"] == 1 + res["rounds"]
    assert by[("rs2", "0.5")]["stopped"].startswith("cap: 5 seeds") and by[("full", "0.5")]["stopped"].startswith(
        "cap: 5 seeds")
    summary = (out / "report" / "budget_summary.md").read_text(encoding="utf-8")
    assert "stopped before its end" not in summary and "SYNTHETIC · stid" in summary
