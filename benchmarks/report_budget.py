"""Comparisons at equal compute: budget tables, time to accuracy, performance profile.

Writes (through :func:`render_all`, called by ``benchmarks.report.write_report``):

``budget.md`` / ``budget.tex``
    One table per workload that has budget runs (``budget`` column of results.csv set).
    Rows are strategies, columns budgets b. A cell holds, over the seeds s that both
    runs finished (paired by seed; intervals from :mod:`benchmarks.stats`)::

        dMAE vs full@1  = 100 (MAE_run - MAE_full@1) / MAE_full@1            (per seed)
        dMAE vs control = 100 (MAE_run - MAE_control@b) / MAE_full@1         (per seed)
        Pass x, Wall x  = sample passes / train seconds of full@1 over the run's (mean)

    full@1 is the finished ``full`` run of the workload and seed with budget empty or 1;
    the control at b is the ``full`` run with budget b (a shortened schedule). A run
    *missed* its budget when ``sample_passes - b E n > E`` (more than one window per
    epoch over), with E the reference epochs and n the training windows; its cell shows
    the budget it reached. Runs of a budget workload without a budget are *native*
    runs (soft selectors at their own prune ratio): own rows, placed by the budget they
    reached, compared with the control at the nearest budget (named in the row).

    Every difference carries a verdict (stats.verdict at the report's margin delta, in %
    of full@1's MAE) and its two-sided paired t-test p-value adjusted over the report's
    families (:func:`adjust_families`: Holm, or BH). The best setting of a budget is the
    one with the lowest mean validation MAE (:func:`best_at`), reported on test.

``tta.md``
    Time to accuracy, for every workload: target = (1 + eps) x the best validation MAE of
    the same seed's full@1; a run's TTA is the cumulative train-loop seconds and sample
    passes up to and including the first epoch whose validation MAE <= target (never:
    infinite, "not reached"). TTA speedup = full@1's TTA / the run's, per seed.

``profile.md``
    AlgoPerf's performance profile over every workload (benchmarks/report_profile.py):
    a target fixed per workload, interpolated time to target, the median over seeds, and
    every workload in the denominator.

All numbers come from sorted inputs and fixed formats, so the same results give the
same bytes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from stbench.benchmarks import stats
from stbench.benchmarks.report import (ADJUST_NAMES, FULL_LABEL, LOAD_SPREAD, ReportData, VerdictRules,
                                      is_reference_full)
from stbench.benchmarks.report_tables import LOAD_MD, _md_table, escape_md, escape_tex, fmt_number, fmt_ratio, ratio_text, tex_caption_head

#: the target tolerances of TTA, the default first
EPSILONS = (0.01, 0.005, 0.02)
PROFILE_EPS = 0.01
TAU_MAX = 4.0
#: budgets are compared after rounding to this many decimals (2/3 written as 0.6666667)
BUDGET_DECIMALS = 6
MISSED_MD = "⚠"


# ----------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Setting:
    """One row of a comparison: a strategy at a prune ratio, or at a budget (NaN: none)."""

    strategy: str
    ratio: float
    budget: float

    @property
    def has_budget(self) -> bool:
        return math.isfinite(self.budget)

    @property
    def is_reference(self) -> bool:
        return self.strategy == FULL_LABEL and not self.has_budget

    @property
    def label(self) -> str:
        if self.has_budget:
            return f"{self.strategy} b={budget_text(self.budget)}"
        if self.strategy == FULL_LABEL:
            return FULL_LABEL
        return f"{self.strategy} r={self.ratio:g}"


def _b(value: float) -> float:
    return round(float(value), BUDGET_DECIMALS) if math.isfinite(value) else float("nan")


def settings_of(data: ReportData, key: tuple) -> List[Tuple[Setting, pd.DataFrame]]:
    """(setting, finished runs) of a workload, in report order."""
    runs = data.select(data.finished, key)
    return [(Setting(s, float(r), _b(b)), g)
            for (s, r, b), g in runs.groupby(["strategy", "ratio", "budget"], sort=False, dropna=False)]


def per_seed(runs: pd.DataFrame, col: str) -> Dict[int, float]:
    return {int(s): float(v) for s, v in zip(runs["seed"], runs[col])}


def budget_keys(data: ReportData) -> List[tuple]:
    """Workloads with at least one finished budget run."""
    return [k for k in data.table_keys() if data.select(data.finished, k)["budget"].notna().any()]


def budget_text(budget: float) -> str:
    """A budget to three significant digits (2/3 written 0.666667 -> '0.667')."""
    return f"{budget:.3g}"


def speedup_text(budget: float) -> str:
    """The ideal speedup 1/b, to one decimal (b = 0.67 -> '1.5×', 0.167 -> '6×')."""
    return f"{round(1.0 / budget, 1):g}×"


# ----------------------------------------------------------------------------- budget accounting
def reference_epochs(runs: pd.DataFrame) -> float:
    """E of a workload: its ``reference_epochs`` when recorded, else the epochs of full@1."""
    e = runs["reference_epochs"].to_numpy(dtype=float)
    e = e[np.isfinite(e)]
    if e.size:
        return float(np.max(e))
    full = runs.loc[is_reference_full(runs), "epochs"].to_numpy(dtype=float)
    full = full[np.isfinite(full)]
    return float(np.max(full)) if full.size else float("nan")


def run_budget(row: pd.Series, epochs_ref: float) -> Tuple[float, float]:
    """(budget reached, training windows n) of a run: ``budget_reached`` and
    ``sample_passes / (budget_reached E)`` when recorded, else
    ``n = full_sample_passes / epochs`` and ``sample_passes / (n E)``."""
    e = row["reference_epochs"] if math.isfinite(row["reference_epochs"]) else epochs_ref
    reached = row["budget_reached"]
    if math.isfinite(reached) and reached > 0 and math.isfinite(e) and e > 0:
        return float(reached), float(row["sample_passes"]) / (reached * e)
    n = float(row["full_sample_passes"]) / float(row["epochs"]) if row["epochs"] > 0 else float("nan")
    return float(row["sample_passes"]) / (n * e) if n > 0 and e > 0 else float("nan"), n


def missed_budget(row: pd.Series, epochs_ref: float) -> bool:
    """True when the run spent more than one window per (reference) epoch over its budget:
    ``sample_passes - b E n > E``."""
    if not math.isfinite(row["budget"]):
        return False
    e = row["reference_epochs"] if math.isfinite(row["reference_epochs"]) else epochs_ref
    _, n = run_budget(row, epochs_ref)
    if not (math.isfinite(n) and math.isfinite(e)):
        return False
    return float(row["sample_passes"]) - row["budget"] * e * n > e


# ----------------------------------------------------------------------------- budget tables
@dataclass
class Cell:
    """One strategy at one budget (or one native setting), aggregated over seeds.

    ``v_ref`` / ``v_ctrl``: the verdicts of the paired dMAE against full@1 and against the
    control (stats.verdict with the report's margin and level); ``p_ref_adj`` /
    ``p_ctrl_adj``: their p-values adjusted over the report's family (NaN when the cell is
    not in a family: underpowered, missed budget, native, the reference)."""

    n: int
    mae: float                   # mean test MAE
    vs_ref: stats.Interval       # dMAE (%) against full@1, paired by seed
    vs_ctrl: stats.Interval      # dMAE (%, of full@1's MAE) against the control, paired by seed
    pass_x: float
    wall_x: float
    reached: float               # mean budget reached
    missed: int                  # seeds that missed their budget
    control_budget: float = float("nan")   # the control compared with (native rows)
    val: float = float("nan")              # mean best validation MAE (val_mae_best): selects the best
    v_ref: Optional[stats.Verdict] = None
    v_ctrl: Optional[stats.Verdict] = None
    p_ref_adj: float = float("nan")
    p_ctrl_adj: float = float("nan")
    level: float = stats.LEVEL

    @property
    def word_ref(self) -> str:
        """The counted word against full@1 (after the adjustment; '' without a verdict)."""
        return stats.final_word(self.v_ref, self.p_ref_adj, self.level) if self.v_ref else ""

    @property
    def word_ctrl(self) -> str:
        """The counted word against the control (after the adjustment; '' without a verdict)."""
        return stats.final_word(self.v_ctrl, self.p_ctrl_adj, self.level) if self.v_ctrl else ""


@dataclass
class BudgetTable:
    key: tuple
    budgets: List[float]                                   # descending
    rows: List[Tuple[str, Dict[float, Cell]]]              # full (control) first
    native: List[Tuple[Setting, Cell]] = field(default_factory=list)
    best: List[str] = field(default_factory=list)
    no_control: List[float] = field(default_factory=list)  # budgets without a control run
    reference_seeds: int = 0
    controls: Dict[float, Dict[int, float]] = field(default_factory=dict)


def _dmae_values(runs: pd.DataFrame, other: Dict[int, float], ref: Dict[int, float]) -> List[float]:
    """100 (MAE_run - other) / ref over the seeds all three have, in seed order."""
    mine = per_seed(runs, "mae")
    return [100.0 * (mine[s] - other[s]) / ref[s] for s in sorted(set(mine) & set(other) & set(ref))
            if ref[s] > 0]


def _mean(values) -> float:
    v = np.sort(np.asarray(list(values), dtype=float))
    v = v[np.isfinite(v)]
    return float(np.mean(v)) if v.size else float("nan")


def _cell(runs: pd.DataFrame, ref: Dict[int, float], ctrl: Optional[Dict[int, float]], epochs_ref: float,
          rules: VerdictRules, is_control: bool = False) -> Cell:
    reached = [run_budget(r, epochs_ref)[0] for _, r in runs.iterrows()]
    missed = sum(missed_budget(r, epochs_ref) for _, r in runs.iterrows())
    v_ref = stats.verdict(_dmae_values(runs, ref, ref), rules.margin_pct, rules.level)
    v_ctrl = None if (ctrl is None or is_control) else stats.verdict(_dmae_values(runs, ctrl, ref),
                                                                    rules.margin_pct, rules.level)
    return Cell(n=len(runs), mae=_mean(runs["mae"]), vs_ref=v_ref.interval,
                vs_ctrl=stats.EMPTY if v_ctrl is None else v_ctrl.interval,
                pass_x=_mean(runs["pass_speedup"]), wall_x=_mean(runs["wall_speedup"]),
                reached=_mean(reached), missed=int(missed), val=_mean(runs["val_mae_best"]),
                v_ref=v_ref, v_ctrl=v_ctrl, level=rules.level)


def budget_table(data: ReportData, key: tuple) -> BudgetTable:
    """The budget table of one workload, with p-values adjusted over the whole report."""
    return budget_tables(data)[key]


def budget_tables(data: ReportData) -> Dict[tuple, BudgetTable]:
    """Every budget table of the report (budget_keys order), after :func:`adjust_families`."""
    cache_key = ("budget_tables",)
    if cache_key not in data.cache:
        tables = {key: _build_table(data, key) for key in budget_keys(data)}
        adjust_families(list(tables.values()), data.rules)
        for t in tables.values():
            t.best = _best_lines(t, t.controls)
        data.cache[cache_key] = tables
    return data.cache[cache_key]


def _build_table(data: ReportData, key: tuple) -> BudgetTable:
    rules = data.rules
    runs = data.select(data.finished, key)
    epochs_ref = reference_epochs(runs)
    settings = settings_of(data, key)
    ref_runs = runs[is_reference_full(runs)]
    ref = per_seed(ref_runs, "mae")
    budgets = sorted({s.budget for s, _ in settings if s.has_budget}, reverse=True)
    controls: Dict[float, Dict[int, float]] = {1.0: ref}
    for s, g in settings:
        if s.strategy == FULL_LABEL and s.has_budget:
            controls[s.budget] = per_seed(g, "mae")
    table = BudgetTable(key, budgets, [], reference_seeds=len(ref), controls=controls)
    table.no_control = [b for b in budgets if b not in controls]
    # rows: the full-data control first, then every strategy with a budget run
    full_cells: Dict[float, Cell] = {}
    if len(ref_runs):
        full_cells[1.0] = _cell(ref_runs, ref, ref, epochs_ref, rules, is_control=True)
    strategies: Dict[str, Dict[float, Cell]] = {}
    for s, g in settings:
        if s.strategy == FULL_LABEL:
            if s.has_budget:
                full_cells[s.budget] = _cell(g, ref, None, epochs_ref, rules, is_control=True)
            continue
        if s.has_budget:
            strategies.setdefault(s.strategy, {})[s.budget] = _cell(g, ref, controls.get(s.budget), epochs_ref,
                                                                    rules)
        else:
            reached = _mean(run_budget(r, epochs_ref)[0] for _, r in g.iterrows())
            near = min(budgets + [1.0], key=lambda b: (abs(b - reached), -b)) if math.isfinite(reached) else 1.0
            cell = _cell(g, ref, controls.get(near), epochs_ref, rules)
            cell.control_budget = near if near in controls else float("nan")
            table.native.append((s, cell))
    table.rows = [(FULL_LABEL, full_cells)] + list(strategies.items())
    return table


def in_family(name: str, b: float, cell: Cell, which: str) -> bool:
    """Whether a comparison enters the report's adjustment: a cell of a budget table (any
    budget, 1 included) that kept to its budget, with a verdict from at least
    stats.MIN_SEEDS paired seeds; ``which`` = ``ctrl`` (a pruning strategy against the
    control at its budget; at b = 1 the control is full@1) or ``ref`` (every setting but
    full@1 itself against full@1). Native rows stay outside (their control is only the
    nearest budget's)."""
    v = cell.v_ctrl if which == "ctrl" else cell.v_ref
    if v is None or not v.counted or cell.missed:
        return False
    if name == FULL_LABEL:
        return which == "ref" and b < 1.0
    return True


def adjust_families(tables: List[BudgetTable], rules: VerdictRules) -> Dict[str, int]:
    """Adjust the p-values of two families over every table of a report (rules.adjust):

    ``ctrl``: every pruner-vs-control comparison of a budget-table cell that kept to its
    budget and has >= MIN_SEEDS paired seeds; ``ref``: every setting-vs-full@1 comparison of
    such cells (the control included). Within a family the order is tables, rows, budgets
    descending; adjustments depend only on the set of p-values. Sets ``p_ctrl_adj`` / ``p_ref_adj``; returns the sizes m."""
    sizes = {}
    for which, attr in (("ctrl", "p_ctrl_adj"), ("ref", "p_ref_adj")):
        members = [cell for t in tables for name, cells in t.rows for b, cell in sorted(cells.items(), reverse=True)
                   if in_family(name, b, cell, which)]
        ps = [(cell.v_ctrl if which == "ctrl" else cell.v_ref).p for cell in members]
        for cell, p in zip(members, stats.adjust_pvalues(ps, rules.adjust)):
            setattr(cell, attr, float(p))
        sizes[which] = len(members)
    return sizes


def family_sizes(data: ReportData) -> Dict[str, int]:
    """m of each family of the report (see :func:`adjust_families`)."""
    tables = budget_tables(data)
    return {which: sum(in_family(name, b, cell, which) for t in tables.values() for name, cells in t.rows
                       for b, cell in cells.items()) for which in ("ctrl", "ref")}


def best_at(rows: List[Tuple[str, Dict[float, Cell]]], b: float) -> Optional[Tuple[str, Cell]]:
    """The setting at budget b with the lowest mean *validation* MAE (val_mae_best, mean over
    seeds) among those that kept to it (the control wins exact ties); its test verdicts are
    what the report prints. None without such a setting."""
    cands = [(name, cells[b]) for name, cells in rows
             if b in cells and math.isfinite(cells[b].val) and not cells[b].missed]
    if not cands:
        return None
    return min(cands, key=lambda nc: (nc[1].val, nc[0] != FULL_LABEL, nc[0]))


def verdict_text(cell: Cell, which: str) -> str:
    """``-1.84 [-2.97, -0.71] better (adj. p 0.012)`` of a cell against full@1 (``ref``) or
    the control (``ctrl``); '' without a verdict."""
    v = cell.v_ctrl if which == "ctrl" else cell.v_ref
    if v is None:
        return stats.fmt_interval(cell.vs_ctrl if which == "ctrl" else cell.vs_ref)
    p, label = (cell.p_ctrl_adj if which == "ctrl" else cell.p_ref_adj), "adj. p"
    if not math.isfinite(p) and v.counted:  # outside the families (native, missed): say so
        p, label = v.p, "unadj. p"
    return stats.fmt_verdict(v, p, cell.level, p_label=label)


def _best_lines(table: BudgetTable, controls: Dict[float, Dict[int, float]]) -> List[str]:
    """Per budget: among the settings that kept to the budget, the one with the lowest mean
    validation MAE (the control wins exact ties) and its test verdicts against full@1 and
    the control; settings that missed the budget are named apart, never as the best at it."""
    lines = []
    for b in sorted(set(table.budgets) | ({1.0} if table.reference_seeds else set()), reverse=True):
        finite = [(name, cells[b]) for name, cells in table.rows if b in cells and math.isfinite(cells[b].mae)]
        over = [f"{name} (reached {cell.reached:.2f})" for name, cell in finite if cell.missed]
        best = best_at(table.rows, b)
        if best is None:
            continue
        name, cell = best
        head = f"b = {budget_text(b)} ({speedup_text(b)}): "
        tail = f" Missed this budget, not ranked: {', '.join(over)}." if over else ""
        vals = f"validation MAE {cell.val:.3f}, test MAE {cell.mae:.3f}"
        if name == FULL_LABEL:
            if b == 1.0:
                lines.append(head + f"full data at budget 1 (the reference), {vals}; no strategy has a lower "
                                    f"mean validation MAE.{tail}")
            else:
                lines.append(head + f"the full-data control (shortened schedule), {vals}; vs full@1 "
                                    f"{verdict_text(cell, 'ref')}.{tail}")
            continue
        if not controls.get(b):
            verdict = "no control at this budget"
        else:
            verdict = f"vs control {verdict_text(cell, 'ctrl')}"
        lines.append(head + f"{name}, {vals}; vs full@1 {verdict_text(cell, 'ref')}; {verdict}.{tail}")
    return lines


# ----------------------------------------------------------------------------- budget rendering
def _budget_cells(name: str, b: float, cell: Optional[Cell], missed_mark: str, load_mark: str = "") -> List[str]:
    """vs full@1, vs control, Pass ×, Wall × of one cell (``load_mark`` on Wall × when the
    workload's machine load makes wall-clock comparisons untrustworthy)."""
    if cell is None:
        return ["", "", "", ""]
    if name == FULL_LABEL and b == 1.0:
        vs_ref, vs_ctrl = "ref", "ref"
    else:
        vs_ref = verdict_text(cell, "ref")
        vs_ctrl = "ctrl" if name == FULL_LABEL else verdict_text(cell, "ctrl")
    pass_x = fmt_number(cell.pass_x, 2)
    if cell.missed:
        pass_x += f" {missed_mark} reached {cell.reached:.2f}"
    wall = fmt_number(cell.wall_x, 2)
    if wall and load_mark and not (name == FULL_LABEL and b == 1.0):
        wall += load_mark
    return [vs_ref, vs_ctrl, pass_x, wall]


def _n_range(cells: Dict[float, Cell]) -> str:
    ns = sorted({c.n for c in cells.values()})
    return "" if not ns else (str(ns[0]) if len(ns) == 1 else f"{ns[0]}-{ns[-1]}")


def _tex(text: str) -> str:
    return escape_tex(text).replace("×", r"$\times$").replace("§", r"$^\S$")


def _native_body(table: BudgetTable) -> List[List[str]]:
    """Unescaped cells of the native rows."""
    body = []
    for s, c in table.native:
        ctrl = budget_text(c.control_budget) if math.isfinite(c.control_budget) else "-"
        body.append([s.strategy, fmt_ratio(s.ratio), str(c.n), fmt_number(c.reached, 3),
                     f"{1.0 / c.reached:.2f}×" if c.reached > 0 else "", verdict_text(c, "ref"),
                     ctrl, verdict_text(c, "ctrl"), fmt_number(c.pass_x, 2), fmt_number(c.wall_x, 2)])
    return body


NATIVE_HEADER = ["Strategy", "Ratio", "n", "Reached b", "1/b", "vs full@1", "Control b", "vs control",
                 "Pass ×", "Wall ×"]

def budget_intro(rules: VerdictRules) -> str:
    """The paragraph above the budget tables: definitions, level, margin and adjustment."""
    return (
        "Accuracy at equal compute. A budget b allows b E n sample passes (E epochs of the full-data "
        "reference, n training windows); the ideal speedup is 1/b. Per cell: dMAE vs full@1 = "
        "100 (MAE - MAE_full@1) / MAE_full@1 and dMAE vs control = 100 (MAE - MAE_control) / MAE_full@1, "
        f"in %, per seed against the same seed's run, then the mean and the {rules.level_pct} t interval "
        "(t_{(1+level)/2, n-1} std / sqrt n) of the paired differences and a verdict with margin "
        f"delta = {rules.margin_pct:g} % of full@1's MAE: better (interval below 0), worse (above 0), "
        "equivalent (inside [-delta, +delta]), not resolved (otherwise); underpowered = fewer than "
        f"{stats.MIN_SEEDS} paired seeds (never counted). Beside it the two-sided paired t-test p-value "
        f"adjusted by {ADJUST_NAMES.get(rules.adjust, rules.adjust)} over the report's family: every "
        "pruner-vs-control comparison of the budget tables (cells that kept to their budget, enough seeds; "
        "at b = 1 the control is full@1), and separately every comparison of such cells against full@1; "
        f"'n.s.' = a better / worse that does not survive (adjusted p >= {stats.alpha_of(rules.level):.2g}); 'unadj. p' = outside the families "
        "(native rows, missed budgets). full@1 = the full-data run at budget 1; control = the full-data "
        "run at the same budget (full data, schedule shortened to round(b E) epochs). Pass × and Wall × "
        "against full@1 (means over seeds). Negative dMAE = better.")


def render_budget_md(data: ReportData) -> str:
    lines = ["# Accuracy at equal compute (budgets)", "", budget_intro(data.rules), ""]
    keys = budget_keys(data)
    if not keys:
        return "\n".join(lines + ["No budget runs in this results directory (the `budget` column of "
                                  "results.csv is empty or absent): see tables.md for the ratio-based "
                                  "comparison and tta.md for time to accuracy."]) + "\n"
    lines += [f"{MISSED_MD} reached x: some seed spent more than one window per epoch over the budget "
              "(sample_passes - b E n > E); x is the budget it reached (mean over seeds).", ""]
    for key in keys:
        t = budget_table(data, key)
        lines += [f"## {data.title(key)}", "", f"dMAE (%) per budget with its verdict: {data.rules.caption}.", ""]
        header, align = ["Strategy", "n"], ["---", "---:"]
        for b in t.budgets:
            tag = f"b={budget_text(b)} ({speedup_text(b)})"
            header += [f"{tag} vs full@1 (%)", f"{tag} vs control (%)", f"{tag} Pass ×", f"{tag} Wall ×"]
            align += ["---:"] * 4
        body = []
        load = LOAD_MD if data.load_flagged(key) else ""
        for name, cells in t.rows:
            label = "full (control)" if name == FULL_LABEL else name
            row = [escape_md(label), _n_range(cells)]
            for b in t.budgets:
                row += _budget_cells(name, b, cells.get(b), MISSED_MD, load)
            body.append(row)
        lines += _md_table(header, align, body) + [""]
        if t.native:
            lines += ["Native runs (no budget: soft selectors at their own prune ratio), placed by the budget "
                      "they reached and compared with the control at the nearest budget (Control b):", ""]
            lines += _md_table(NATIVE_HEADER, ["---"] + ["---:"] * (len(NATIVE_HEADER) - 1),
                               [[escape_md(c) for c in row] for row in _native_body(t)]) + [""]
        notes = []
        if load:
            notes.append(f"{LOAD_MD} machine load: the full-data epochs of this workload's runs ran at speeds more "
                         f"than {LOAD_SPREAD:.0%} apart (efficiency.md), so Wall × is not a result here; read Pass ×.")
        if not t.reference_seeds:
            notes.append("No full-data run at budget 1: every dMAE and speedup is blank.")
        if t.no_control:
            notes.append("No full-data control at budget(s) " + ", ".join(budget_text(b) for b in t.no_control)
                         + ": dMAE vs control blank there.")
        lines += [f"- {n}" for n in notes] + ([""] if notes else [])
        if t.best:
            lines += [f"Best setting per budget (selected on validation: the lowest mean validation MAE; its test "
                      f"verdicts; {data.rules.caption}):", ""] + [f"- {b}" for b in t.best] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def render_budget_tex(data: ReportData) -> str:
    out = ["% Generated by stbench (benchmarks/report_budget.py). Needs \\usepackage{booktabs,graphicx}.",
           "% " + budget_intro(data.rules), ""]
    keys = budget_keys(data)
    if not keys:
        return "\n".join(out + ["% No budget runs."]) + "\n"
    for key in keys:
        t = budget_table(data, key)
        caption = (f"{tex_caption_head(data, key)} at equal compute: per budget $b$, "
                   r"$\Delta$MAE (\%) against full data at $b=1$ and against the full-data control at $b$ "
                   r"(paired by seed; mean, " + _tex(data.rules.caption) + r"; verdict better / worse / "
                   r"equivalent / not resolved / underpowered), and the pass and wall-clock speedups against "
                   r"full data at $b=1$.")
        groups = [""] * 2
        rules = []
        col = 3
        for b in t.budgets:
            groups.append(rf"\multicolumn{{4}}{{c}}{{$b={budget_text(b)}$ ({_tex(speedup_text(b))})}}")
            rules.append(rf"\cmidrule(lr){{{col}-{col + 3}}}")
            col += 4
        header = ["Strategy", "$n$"] + [r"vs full@1", "vs ctrl", "Pass", "Wall"] * len(t.budgets)
        out += [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{caption}}}",
                rf"\label{{tab:budget-{'-'.join(_slug(k) for k in data.name_key(key) if str(k))}}}",
                r"\resizebox{\textwidth}{!}{%", rf"\begin{{tabular}}{{ll{'r' * 4 * len(t.budgets)}}}", r"\toprule",
                " & ".join(groups) + r" \\", "".join(rules), " & ".join(header) + r" \\", r"\midrule"]
        load = "§" if data.load_flagged(key) else ""
        for i, (name, cells) in enumerate(t.rows):
            label = "full (control)" if name == FULL_LABEL else name
            row = [escape_tex(label), _n_range(cells)]
            for b in t.budgets:
                row += [_tex(c) for c in _budget_cells(name, b, cells.get(b), "(!)", load)]
            out.append(" & ".join(row) + r" \\")
            if i == 0 and len(t.rows) > 1:
                out.append(r"\midrule")
        out += [r"\bottomrule", r"\end{tabular}}"]
        if t.native:
            out += [r"\par\smallskip{\footnotesize Native runs (own prune ratio), placed by the budget reached:}",
                    r"\par\smallskip", rf"\begin{{tabular}}{{ll{'r' * (len(NATIVE_HEADER) - 2)}}}", r"\toprule",
                    " & ".join(_tex(h) for h in NATIVE_HEADER) + r" \\", r"\midrule"]
            for row in _native_body(t):
                out.append(" & ".join(_tex(c) for c in row) + r" \\")
            out += [r"\bottomrule", r"\end{tabular}"]
        if t.best:
            out.append(r"\par\smallskip{\footnotesize Best per budget (selected on validation): "
                       + " ".join(_tex(b) for b in t.best) + "}")
        out += [r"\end{table}", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _slug(text) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in str(text).lower()).strip("-") or "x"


# ----------------------------------------------------------------------------- time to accuracy
@dataclass(frozen=True)
class TTA:
    """Cumulative train seconds and sample passes up to and including the first epoch whose
    validation MAE <= target (inf when never), and the test MAE of that checkpoint."""

    seconds: float
    passes: float
    test_mae: float = float("nan")
    epoch: float = float("nan")

    @property
    def reached(self) -> bool:
        return math.isfinite(self.passes)


NOT_REACHED = TTA(float("inf"), float("inf"))
TTA_COLUMNS = ("val_mae", "train_seconds", "sample_passes")


def time_to_target(curve: Optional[pd.DataFrame], target: float) -> Optional[TTA]:
    """TTA of one curve (None when the curve lacks val_mae, train_seconds or sample_passes)."""
    if curve is None or not set(TTA_COLUMNS) <= set(curve.columns) or not math.isfinite(target):
        return None
    val = curve["val_mae"].to_numpy(dtype=float)
    hit = np.flatnonzero(np.isfinite(val) & (val <= target))
    if hit.size == 0:
        return NOT_REACHED
    i = int(hit[0])
    secs = float(np.nansum(curve["train_seconds"].to_numpy(dtype=float)[:i + 1]))
    passes = float(np.nansum(curve["sample_passes"].to_numpy(dtype=float)[:i + 1]))
    test = float(curve["test_mae"].iloc[i]) if "test_mae" in curve.columns else float("nan")
    return TTA(secs, passes, test, float(curve["epoch"].iloc[i]))


def best_val(data: ReportData, row: pd.Series) -> float:
    """Best validation MAE of a run: the minimum of its curve's val_mae (what TTA compares
    against), else ``val_mae_best`` of results.csv."""
    c = data.curve(row["run_id"])
    if c is not None and "val_mae" in c.columns and np.isfinite(c["val_mae"].to_numpy(dtype=float)).any():
        return float(np.nanmin(c["val_mae"].to_numpy(dtype=float)))
    return float(row["val_mae_best"]) if math.isfinite(row["val_mae_best"]) else float("nan")


@dataclass
class TTARow:
    setting: Setting
    tta: Dict[int, TTA]                  # seeds with a computable TTA (curve and full@1 of the seed)
    speed_passes: Dict[int, float]       # full@1's TTA / the run's (0 when not reached)
    speed_seconds: Dict[int, float]

    @property
    def n(self) -> int:
        return len(self.tta)

    @property
    def reached(self) -> int:
        return sum(t.reached for t in self.tta.values())

    def mean_passes(self) -> float:
        """Seed mean of the TTA in passes, an unreached seed counting as infinite (so inf
        unless every seed reached the target); NaN without a seed."""
        if not self.tta:
            return float("nan")
        if self.reached < self.n:
            return float("inf")
        return _mean(t.passes for t in self.tta.values())


def tta_rows(data: ReportData, key: tuple, eps: float) -> List[TTARow]:
    cache_key = ("tta", key, eps)
    if cache_key in data.cache:
        return data.cache[cache_key]
    runs = data.select(data.finished, key)
    ref_runs = runs[is_reference_full(runs)]
    ref: Dict[int, Tuple[float, TTA]] = {}
    for _, r in ref_runs.iterrows():
        target = (1.0 + eps) * best_val(data, r)
        t = time_to_target(data.curve(r["run_id"]), target)
        if t is not None and t.reached:
            ref[int(r["seed"])] = (target, t)
    rows = []
    for setting, g in settings_of(data, key):
        tta, sp, ss = {}, {}, {}
        for _, r in g.iterrows():
            seed = int(r["seed"])
            if seed not in ref:
                continue
            target, t_ref = ref[seed]
            t = time_to_target(data.curve(r["run_id"]), target)
            if t is None:
                continue
            tta[seed] = t
            sp[seed] = t_ref.passes / t.passes if t.reached and t.passes > 0 else 0.0
            ss[seed] = t_ref.seconds / t.seconds if t.reached and t.seconds > 0 else 0.0
        rows.append(TTARow(setting, tta, sp, ss))
    data.cache[cache_key] = rows
    return rows


def speedup_interval(row: TTARow, kind: str = "passes") -> Optional[stats.Interval]:
    """Mean and t interval of the per-seed TTA speedups when every seed reached; else None."""
    if not row.n or row.reached < row.n:
        return None
    values = row.speed_passes if kind == "passes" else row.speed_seconds
    return stats.mean_interval(values.values())


def _speed_text(row: TTARow, kind: str) -> str:
    if not row.n:
        return ""
    if row.setting.is_reference:
        return "1 (ref)"
    if row.reached == 0:
        return "not reached"
    iv = speedup_interval(row, kind)
    if iv is None:
        return f"{row.reached}/{row.n} reached"
    return stats.fmt_interval(iv, 2, signed=False, tie=False)


def _tta_value(row: TTARow, attr: str, decimals: int) -> str:
    if not row.n:
        return ""
    hit = [getattr(t, attr) for t in row.tta.values() if t.reached]
    if not hit:
        return "not reached"
    text = fmt_number(_mean(hit), decimals)
    return text if len(hit) == row.n else f"{text} ({len(hit)}/{row.n})"


def render_tta_md(data: ReportData) -> str:
    lines = ["# Time to accuracy", "",
             "Target = (1 + eps) x the best validation MAE of the same seed's full-data run at budget 1 "
             "(full@1). A run's TTA = the train-loop seconds and the sample passes summed over its epochs up "
             "to and including the first epoch whose validation MAE <= target; 'not reached' = never "
             "(infinite). TTA columns: means over the seeds that reached the target, '(k/n)' when only k of n "
             "seeds did (in the speedups an unreached seed counts as infinite; profile.md uses its own "
             "target, fixed per workload, and the median over seeds). "
             "TTA speedup = full@1's TTA / the run's, per seed; mean and 95 % t interval when every seed "
             "reached, else how many did. Test MAE at target = the test MAE of that epoch's checkpoint "
             "(curve.csv test_mae; blank when the curve has none). eps = 1 % is the default; 0.5 % and 2 % "
             "follow.", ""]
    keys = data.table_keys()
    if not keys:
        return "\n".join(lines + ["No finished runs."]) + "\n"
    for key in keys:
        body_by_eps = []
        for eps in EPSILONS:
            rows = [r for r in tta_rows(data, key, eps) if r.n]
            if not rows:
                continue
            with_budget = any(r.setting.has_budget for r in rows)
            header = ["Strategy", "Ratio"] + (["Budget"] if with_budget else []) + [
                "n", "Reached", "TTA passes", "TTA train (s)", "Speedup (passes)", "Speedup (train s)",
                "Test MAE at target"]
            body = []
            for r in rows:
                s = r.setting
                cells = [escape_md(s.strategy), ratio_text(s.strategy, s.ratio, s.budget)]
                cells += [budget_text(s.budget) if s.has_budget else "-"] if with_budget else []
                test = [t.test_mae for t in r.tta.values() if t.reached and math.isfinite(t.test_mae)]
                cells += [str(r.n), f"{r.reached}/{r.n}", _tta_value(r, "passes", 0), _tta_value(r, "seconds", 1),
                          _speed_text(r, "passes"), _speed_text(r, "seconds"),
                          fmt_number(_mean(test), 3) if test else ""]
                body.append(cells)
            align = ["---", "---:"] + (["---:"] if with_budget else []) + ["---:"] * 7
            body_by_eps += [f"### eps = {eps * 100:g} %", ""] + _md_table(header, align, body) + [""]
        lines += [f"## {data.title(key)}", ""]
        lines += body_by_eps or ["No TTA: the runs lack curve.csv (val_mae, train_seconds, sample_passes) or "
                                 "the workload has no full-data run at budget 1.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# ----------------------------------------------------------------------------- all
def render_all(data: ReportData) -> Dict[str, str]:
    """{file name: text} of budget.md, budget.tex, tta.md and profile.md."""
    from stbench.benchmarks.report_profile import render_profile_md
    return {"budget.md": render_budget_md(data), "budget.tex": render_budget_tex(data),
            "tta.md": render_tta_md(data), "profile.md": render_profile_md(data)}
