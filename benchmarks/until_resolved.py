"""``run SUITE --until-resolved``: add seeds to the cells whose verdicts are not resolved, and
stop by precision, never by significance.

After the suite's own seeds have run, every cell of a budget table (a strategy at a budget,
the full-data control included) has up to three *decisive* comparisons, the paired dMAE
against full@1, for a pruning strategy against the control at its budget, and for a selector X
with a plan-matched random control ``X~random`` (pruning/matched.py) its selection effect X -
``X~random`` (benchmarks/report_attribution.py), each with a verdict at margin delta
(benchmarks/stats.py). A cell is *selected* once, after the first
seeds, when one of them is not resolved or underpowered (the verdict of the interval alone,
before the report's multiplicity adjustment, which depends on every other cell). Then, round after round, every
selected cell that is not yet done gets one more seed (and full@1, the control and, for a
selector, ``X~random`` get the same seed, so the comparisons stay paired) until::

    precision:  every decisive interval has half-width <= delta / 2, or
    cap:        the cell has max_seeds seeds.

The rule looks at the width of the intervals, never at their position: whether a cell
goes on does not depend on the sign of its effect or on its p-value, so the verdicts keep
their error rates. A rule that stopped as soon as an interval excluded 0 (p < 0.05) would
test again and again and report the first success: its false-positive rate grows with the
number of looks. With tuning trials a cell is a setting shown at its trial chosen on
validation (report_attribution.tuned_runs): every trial of the cell and of its comparators
gets the new seed, so the choice keeps being made on the same seeds.

``--only`` sets the *scope*: only cells the filter admits are selected and grown; their
comparators and trials come from the whole suite whatever the filter (a cell of
``experiment=main`` whose tuned setting has trials in another experiment brings them along).
The record, ``DIR/until_resolved.json``, keeps every cell ever in scope with the seeds it
had when it was selected or not; it is written after the selection and after every round, and
a later run (the same scope after an interruption, or another scope: one data set after
another) reads it: a cell decided before keeps that decision (a cell is selected once, after
its first seeds, never again on grown seeds), and cells outside the new scope keep their
entries. It goes into budget_summary.md ("Seeds per cell"). Runs go one after another in
this process.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from stbench.benchmarks import stats
from stbench.benchmarks.config import ConfigError, RunSpec, load_suite, matches, parse_only, workload_signature
from stbench.benchmarks.report import FULL_LABEL, VerdictRules, build_report_data
from stbench.benchmarks.report_attribution import CONTROL_SUFFIX, effects_of, split_label
from stbench.benchmarks.report_budget import BudgetTable, Cell, budget_tables, budget_text
from stbench.benchmarks.report_seeds import RECORD, read_record
from stbench.benchmarks.store import ResultsStore, atomic_write_text

#: (report table key, strategy label, budget) of a budget-table cell; full@1 is (key, "full", 1.0)
CellId = Tuple[tuple, str, float]


def decisive(table: BudgetTable, name: str, b: float,
             selection: Optional[stats.Verdict] = None) -> List[stats.Verdict]:
    """The verdicts a cell is judged on: against full@1 and, for a pruning strategy with a
    control at b, against the control (none for full@1 itself); ``selection``: the cell's
    selection effect against its plan-matched random control, when it has one."""
    cell: Cell = dict(table.rows)[name][b]
    if name == FULL_LABEL and b == 1.0:
        return []
    out = [cell.v_ref] if cell.v_ref is not None else []
    if name != FULL_LABEL and cell.v_ctrl is not None and cell.v_ctrl.interval.n:
        out.append(cell.v_ctrl)
    if selection is not None and selection.interval.n:
        out.append(selection)
    return out


def selection_verdicts(data) -> Dict[CellId, stats.Verdict]:
    """Per selector cell with a plan-matched random control: its selection verdict
    (report_attribution.effects_of, each setting's chosen trial)."""
    chosen, _ = effects_of(data)
    return {(e.key, e.selector, round(float(e.budget), 6)): e.verdict for e in chosen if e.kind == "selection"}


def unresolved(verdicts: List[stats.Verdict]) -> bool:
    """Some decisive comparison is not resolved or underpowered."""
    return any(v.word in (stats.UNRESOLVED, stats.UNDERPOWERED) for v in verdicts)


def precise(verdicts: List[stats.Verdict], margin: float) -> bool:
    """Every decisive comparison has enough seeds for a verdict (stats.MIN_SEEDS) and an
    interval of half-width <= margin / 2 (the stopping rule)."""
    return all(v.counted and stats.half_width(v.interval) <= margin / 2.0 for v in verdicts)


def cells_of(tables: Dict[tuple, BudgetTable]) -> Dict[CellId, Cell]:
    """Every cell of the budget tables (missed budgets and native rows left out)."""
    return {(key, name, b): cell for key, t in tables.items() for name, cells in t.rows
            for b, cell in sorted(cells.items(), reverse=True) if not cell.missed}


def select(tables: Dict[tuple, BudgetTable],
           selection: Optional[Dict[CellId, stats.Verdict]] = None) -> List[CellId]:
    """The cells whose decisive comparisons are not all resolved (round 0's decision);
    ``selection``: selection_verdicts."""
    sel = selection or {}
    return [cid for cid in cells_of(tables)
            if unresolved(decisive(tables[cid[0]], cid[1], cid[2], sel.get(cid)))]


@dataclass
class Plan:
    """What one round does: the cells that get a seed, and the ones that stopped (and why)."""

    grow: List[CellId] = field(default_factory=list)
    stopped: Dict[CellId, str] = field(default_factory=dict)


def plan_round(tables: Dict[tuple, BudgetTable], selected: List[CellId], margin: float, max_seeds: int,
               selection: Optional[Dict[CellId, stats.Verdict]] = None) -> Plan:
    """Per selected cell: stop on precision or the cap, else grow by one seed."""
    plan = Plan()
    sel = selection or {}
    for cid in selected:
        vs = decisive(tables[cid[0]], cid[1], cid[2], sel.get(cid))
        widths = [stats.half_width(v.interval) for v in vs]
        n = dict(tables[cid[0]].rows)[cid[1]][cid[2]].n
        if precise(vs, margin):
            plan.stopped[cid] = f"precision: half-width {max(widths):.2f} <= {margin / 2:g} with {n} seeds"
        elif n >= max_seeds:
            plan.stopped[cid] = f"cap: {n} seeds (half-width {max(widths):.2f} > {margin / 2:g})"
        else:
            plan.grow.append(cid)
    return plan


def _spec_cell(spec: RunSpec, keys: List[tuple]) -> Optional[CellId]:
    """The budget-table cell a spec belongs to (None for a ratio run)."""
    c = spec.config
    budget = c["strategy"].get("budget")
    label = split_label(c["strategy"]["label"])[0]     # every tuning trial of a setting grows with it
    if budget is None and label != FULL_LABEL:
        return None
    b = 1.0 if budget is None else round(float(budget), 6)
    head = (c["dataset"]["name"], c["model"]["name"], c["profile"], c["train"]["optimizer"])
    sig = workload_signature(c)
    for key in keys:
        if tuple(key[:4]) == head and str(key[4]).startswith(sig):
            return key, label, b
    return None


def _specs_by_cell(path, seed: int, profile, data_root, keys: List[tuple]) -> Dict[CellId, List[RunSpec]]:
    """Every run of the suite at ``seed`` by its budget-table cell (no --only filter:
    comparators and trials of a cell in scope may lie outside it)."""
    _, specs = load_suite(Path(path), profile=profile, seeds=[seed], data_root=data_root)
    out: Dict[CellId, List[RunSpec]] = {}
    for spec in specs:
        out.setdefault(_spec_cell(spec, keys), []).append(spec)
    return out


def _first_seeds(entry: dict) -> int:
    """A record entry's seed count when it was selected or not (older records: its seeds)."""
    return int(entry.get("first_seeds", len(entry["seeds"])))


def _cell_name(data, cid: CellId) -> Tuple[str, str, str]:
    """A cell's identity in the record: (table title, with its workload; strategy; budget)."""
    key, name, b = cid
    return data.title(key), name, budget_text(b)


def _previous(out: Path, margin: float, max_seeds: int) -> Tuple[Dict[Tuple[str, str, str], dict], int]:
    """The cells of an earlier record of ``out`` by _cell_name, and its rounds (({}, 0) without
    one); an error when it was written under another rule (its selections and stops would
    not be this run's)."""
    rec = read_record(out)
    if not rec:
        return {}, 0
    if float(rec.get("margin", -1)) != float(margin) or int(rec.get("max_seeds", -1)) != int(max_seeds):
        raise ConfigError(
            f"{out / RECORD}: written with --margin {rec.get('margin')} --max-seeds {rec.get('max_seeds')}; "
            f"this run asks for --margin {margin:g} --max-seeds {max_seeds}. Run with the record's values, or "
            f"move the record away to start the selection anew (its cells would be selected again on their "
            f"grown seeds)")
    return ({(c.get("table", c["workload"]), c["strategy"], c["budget"]): c for c in rec.get("cells", [])},
            int(rec.get("rounds", 0)))


def run_until_resolved(path, margin: Optional[float] = None, max_seeds: int = 10, out=None, profile=None, only=None,
                       data_root=None, retry_failed: bool = False, report: bool = True,
                       quiet: bool = False) -> dict:
    """Run the suite, then add seeds round by round (see the module text); write the record
    and the report. ``margin``: delta in % of full@1's MAE (default: the suite's report:
    margin, else 1)."""
    from stbench.benchmarks.runner import execute, run_suite, suite_rules

    if max_seeds < 1:
        raise ConfigError(f"--max-seeds must be an integer >= 1, got {max_seeds}")
    suite, specs = load_suite(Path(path), profile=profile, data_root=data_root)
    base = suite_rules(suite, path)
    rules = VerdictRules(margin_pct=base.margin_pct if margin is None else float(margin), level=base.level,
                         adjust=base.adjust)
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    first = run_suite(path, profile=profile, only=only, out=out, data_root=data_root, retry_failed=retry_failed,
                      report=False, quiet=quiet)
    out = Path(first["out"])
    prev, prev_rounds = _previous(out, rules.margin_pct, max_seeds)
    filt = {k: v for k, v in parse_only(only).items() if k != "seed"}
    store = ResultsStore(out)
    data = build_report_data(out, rules)
    tables, sel_v = budget_tables(data), selection_verdicts(data)
    scope = {_spec_cell(s, list(tables)) for s in specs if matches(s, filt)} - {None}
    cells = cells_of(tables)
    in_scope = [cid for cid in cells if cid in scope]
    fresh = set(select(tables, sel_v))
    selected, start_seeds = [], {}
    for cid in in_scope:
        old = prev.get(_cell_name(data, cid))
        if old is None:      # decided now, on the seeds it has
            start_seeds[cid] = cells[cid].n
            chosen = cid in fresh
        else:                # decided by an earlier run, on its first seeds
            start_seeds[cid] = _first_seeds(old)
            chosen = bool(old["selected"])
        if chosen:
            selected.append(cid)
    stopped: Dict[CellId, str] = {}
    rounds = 0
    spec_cache: Dict[int, Dict[CellId, List[RunSpec]]] = {}

    def write_record(done: bool) -> None:
        record = _record(data, tables, in_scope, selected, stopped, start_seeds, rules.margin_pct, max_seeds,
                         prev_rounds + rounds, prev, done)
        atomic_write_text(out / RECORD, json.dumps(record, indent=2, sort_keys=True) + "\n")

    write_record(done=False)
    while True:
        plan = plan_round(tables, [c for c in selected if c not in stopped], rules.margin_pct, max_seeds, sel_v)
        stopped.update(plan.stopped)
        if not plan.grow:
            break
        rounds += 1
        todo: Dict[str, RunSpec] = {}
        seeds_now = _finished_seeds(data)
        tried: Dict[CellId, int] = {}
        for key, name, b in plan.grow:
            have = set(seeds_now.get((key, name, b), []))
            seed = next(s for s in range(len(have) + 1) if s not in have)
            tried[(key, name, b)] = seed
            if seed not in spec_cache:
                spec_cache[seed] = _specs_by_cell(path, seed, profile, data_root, list(tables))
            want = {(key, name, b), (key, FULL_LABEL, 1.0), (key, FULL_LABEL, b)}
            if (key, name, b) in sel_v:                 # keep the selection effect paired
                want.add((key, name + CONTROL_SUFFIX, b))
            for spec in (s for cid, specs in spec_cache[seed].items() if cid in want for s in specs):  # suite order
                todo[spec.hash] = spec
        say(f"until resolved, round {rounds}: {len(plan.grow)} cell(s) get a seed, {len(todo)} run(s)")
        for spec in todo.values():
            status = execute(spec, store, data_root=data_root)
            if status == "failed":
                say(f"  failed   {spec.run_id}")
        store.write_results_csv()
        data = build_report_data(out, rules)
        tables, sel_v = budget_tables(data), selection_verdicts(data)
        seeds_after = _finished_seeds(data)
        for cid, seed in tried.items():  # no progress (failed run, cell not in the grid): stop, say why
            if seed not in seeds_after.get(cid, []):
                stopped[cid] = f"seed {seed} did not finish (failed, or the cell is not in the grid at that seed)"
        write_record(done=False)
    write_record(done=True)
    say(f"until resolved: {len(in_scope)} cell(s) in scope, {len(selected)} selected, {rounds} round(s); "
        f"record: {out / RECORD}")
    result = {**first, "rounds": rounds, "selected": selected, "stopped": stopped}
    if report:
        from stbench.benchmarks.runner import make_report
        result["report"] = make_report(out, quiet=quiet, rules=rules)
    return result


def _finished_seeds(data) -> Dict[CellId, List[int]]:
    """Per budget-table cell of the report data ``data``: its finished seeds, sorted."""
    keys = data.table_keys()
    seeds: Dict[CellId, List[int]] = {}
    for _, r in data.finished.iterrows():
        key = tuple(r[c] for c in data.table_key)
        if key not in keys:
            continue
        b = r["budget"]
        if not math.isfinite(b) and r["strategy"] != FULL_LABEL:
            continue
        cid = (key, r["strategy"], 1.0 if not math.isfinite(b) else round(float(b), 6))
        seeds.setdefault(cid, []).append(int(r["seed"]))
    return {k: sorted(v) for k, v in seeds.items()}


def _record(data, tables, in_scope, selected, stopped, start_seeds, margin: float, max_seeds: int, rounds: int,
            prev: Dict[Tuple[str, str, str], dict], done: bool) -> dict:
    """The record: this run's cells (in scope) and the earlier record's other cells, in table
    order, each with its seeds now; ``done``: False while rounds are still to come (an
    interrupted run leaves its selected cells marked as going on)."""
    seeds = _finished_seeds(data)
    mine = set(in_scope)
    cells, seen = [], set()
    for cid in cells_of(tables):
        key, name, b = cid
        ident = _cell_name(data, cid)
        old = prev.get(ident)
        if cid not in mine and old is None:
            continue
        seen.add(ident)
        if cid not in mine:
            why, chosen, first_n = old["stopped"], bool(old["selected"]), _first_seeds(old)
        else:
            chosen, first_n = cid in selected, start_seeds[cid]
            if cid in stopped:
                why = stopped[cid]
            elif chosen:     # only before the last round: at the end every selected cell has stopped
                why = "going on (if the run was interrupted: run --until-resolved again with the same scope)"
            elif name == FULL_LABEL and b == 1.0:
                why = "reference (gets the seeds of the cells compared with it)"
            elif len(seeds.get(cid, [])) > first_n:
                why = "resolved after the first seeds; seeds added as a comparator"
            else:
                why = "resolved after the first seeds"
        cells.append({"workload": data.short_title(key), "table": ident[0], "strategy": name, "budget": ident[2],
                      "seeds": seeds.get(cid, []), "first_seeds": first_n, "selected": chosen, "stopped": why})
    cells += [c for ident, c in prev.items() if ident not in seen]   # a cell no longer in the tables: kept as it was
    return {"margin": margin, "max_seeds": max_seeds, "rounds": rounds, "done": done, "cells": cells}
