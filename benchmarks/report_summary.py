"""One page over every budget workload of a results directory: ``budget_summary.md``.

Built from :func:`benchmarks.report_budget.budget_tables` (the same cells and verdicts as
budget.md; margin delta, level and p-value adjustment from the report's VerdictRules)::

    Best per budget     per workload and budget b, the setting with the lowest mean
                        *validation* MAE among those that kept to b (the full-data control
                        included; it wins exact ties), and its *test* verdicts: dMAE vs
                        full@1 (paired t interval, verdict, adjusted p) and, for a pruning
                        strategy, its verdict against the control at b.
    Saving without loss per workload: the largest speedup 1/b such that at b and at every
                        larger budget of the workload some setting of the group is
                        equivalent to or better than full@1 (after the adjustment: a
                        better that does not survive counts only if its interval lies
                        inside the margin). Groups: the control alone, the pruning
                        strategies (any of them), and both. '-' when even the largest
                        budget fails.
    Against the control per strategy: its budget cells by the counted verdict against the
                        control at the same budget: better / worse only when the adjusted
                        p < 1 - level; equivalent; not resolved; underpowered (< MIN_SEEDS
                        seeds, never counted) and missed budgets apart.

Every number is formatted from sorted inputs, so the same results give the same bytes.
"""
from __future__ import annotations

import math
from typing import Dict, List, Tuple

from stbench.benchmarks import stats
from stbench.benchmarks.report import ADJUST_NAMES, FULL_LABEL, ReportData
from stbench.benchmarks.report_budget import (Cell, best_at, budget_keys, budget_tables, budget_text, family_sizes,
                                             reference_epochs, run_budget, speedup_text, verdict_text)
from stbench.benchmarks.report_seeds import render_seeds_section
from stbench.benchmarks.report_tables import _md_table, escape_md, fmt_number

CONTROL = "control"
#: verdicts that make a saving "without loss" against full@1
NO_LOSS = (stats.EQUIVALENT, stats.BETTER)
#: the count columns of "Against the control", in order
COUNT_WORDS = (stats.BETTER, stats.WORSE, stats.EQUIVALENT, stats.UNRESOLVED)


def no_loss(cell: Cell) -> bool:
    """Equivalent to or better than full@1 (the counted word, after the adjustment)."""
    return cell.word_ref in NO_LOSS


def affordable(rows: List[Tuple[str, Dict[float, Cell]]], budgets: List[float],
               members) -> Tuple[float, List[str]]:
    """(smallest b of the descending ``budgets`` such that at b and every larger budget some
    setting in ``members`` (a predicate on the name) kept to b and is equivalent to or better
    than full@1, the names that qualify at that b); (NaN, []) when the largest budget fails."""
    found, names = float("nan"), []
    for b in sorted(budgets, reverse=True):
        ok = sorted(name for name, cells in rows
                    if members(name) and b in cells and not cells[b].missed and no_loss(cells[b]))
        if not ok:
            break
        found, names = b, ok
    return found, names


def _label(name: str) -> str:
    return CONTROL if name == FULL_LABEL else name


def _saving_text(b: float, names: List[str]) -> str:
    if not math.isfinite(b):
        return "-"
    return f"{speedup_text(b)} ({', '.join(_label(n) for n in names)})"


def ctrl_text(cell: Cell) -> str:
    """``better vs control (adj. p 0.004)`` without the interval (budget.md has it)."""
    v = cell.v_ctrl
    if v is None or not v.interval.n:
        return ""
    if v.word == stats.UNDERPOWERED:
        return f"underpowered vs control (n={v.interval.n})"
    ns = " n.s." if v.word in (stats.BETTER, stats.WORSE) and not stats.survives(v, cell.p_ctrl_adj, cell.level) \
        else ""
    p = f" (adj. p {stats.fmt_p(cell.p_ctrl_adj)})" if math.isfinite(cell.p_ctrl_adj) else ""
    return f"{v.word}{ns} vs control{p}"


def render_summary_md(data: ReportData) -> str:
    lines = ["# Summary at equal compute", ""]
    keys = budget_keys(data)
    if not keys:
        return "\n".join(lines + ["No budget runs in this results directory: see budget.md."]) + "\n"
    rules = data.rules
    by_key = budget_tables(data)
    tables = [by_key[k] for k in keys]
    m = family_sizes(data)
    adj = ADJUST_NAMES.get(rules.adjust, rules.adjust)
    alpha = stats.alpha_of(rules.level)
    budgets = sorted({b for t in tables for b in t.budgets if b < 1.0}, reverse=True)
    lines += [f"Verdicts: {rules.caption} (families: {m['ctrl']} pruner-vs-control and {m['ref']} "
              f"setting-vs-full@1 comparisons). better / worse = the interval below / above 0 and, to be "
              f"counted, the adjusted p < {alpha:.2g} ('n.s.': it does not survive the adjustment); "
              f"equivalent = the interval inside [-{rules.margin_pct:g} %, +{rules.margin_pct:g} %]; not "
              f"resolved = neither; underpowered = fewer than {stats.MIN_SEEDS} paired seeds, never counted.",
              "",
              "## Best setting per budget", "",
              "Per workload and budget b, selected on validation: the setting with the lowest mean validation MAE "
              "over seeds among those that kept to b (control = full data with the schedule shortened to b; it "
              "wins exact ties). Reported on test: its dMAE against full data at b = 1 in % (mean, "
              f"{rules.level_pct} paired t interval over the seeds, verdict, adjusted p) and, for a pruning "
              "strategy, its verdict against the control at b. Blank: the workload has no runs at b. budget.md "
              "holds every strategy.", ""]
    header = ["Workload", "n (train)", "full@1 MAE"] + [f"b={budget_text(b)} ({speedup_text(b)})" for b in budgets]
    body = []
    for key, t in zip(keys, tables):
        full = dict(t.rows).get(FULL_LABEL, {})
        ref = full.get(1.0)
        row = [escape_md(data.short_title(key)), _train_windows(data, key), fmt_number(ref.mae, 3) if ref else ""]
        for b in budgets:
            best = best_at(t.rows, b) if b in t.budgets else None
            if best is None:
                row.append("")
                continue
            name, cell = best
            text = f"{_label(name)} {verdict_text(cell, 'ref')}"
            if name != FULL_LABEL:
                word = ctrl_text(cell)
                text += f"; {word}" if word else ""
            row.append(escape_md(text))
        body.append(row)
    lines += _md_table(header, ["---", "---:", "---:"] + ["---"] * len(budgets), body) + [""]

    lines += ["## Saving without loss", "",
              "The largest speedup 1/b such that at b and at every larger budget of the workload some setting "
              "of the column is equivalent to or better than full data at b = 1 (the counted verdict of its "
              f"paired dMAE vs full@1: inside the margin of {rules.margin_pct:g} %, or below 0 with an adjusted "
              f"p < {alpha:.2g}), with the settings that qualify at that b. A tie that cannot exclude a loss "
              "larger than the margin does not qualify. '-': not even at the largest budget run.", ""]
    header = ["Workload", "n (train)", "Budgets run", "Control", "Pruning strategies", "Any"]
    body = []
    for key, t in zip(keys, tables):
        below = [b for b in t.budgets if b < 1.0]
        ctrl = affordable(t.rows, below, lambda n: n == FULL_LABEL)
        prune = affordable(t.rows, below, lambda n: n != FULL_LABEL)
        both = affordable(t.rows, below, lambda n: True)
        body.append([escape_md(data.short_title(key)), _train_windows(data, key),
                     ", ".join(budget_text(b) for b in sorted(below, reverse=True)),
                     escape_md(_saving_text(*ctrl)), escape_md(_saving_text(*prune)), escape_md(_saving_text(*both))])
    lines += _md_table(header, ["---", "---:", "---", "---", "---", "---"], body) + [""]

    lines += ["## Against the control, per strategy", "",
              "Budget cells (workload x budget, b < 1) of each pruning strategy by the counted verdict of its paired "
              f"dMAE against the full-data control at the same budget ({rules.caption}; m = {m['ctrl']}): better / "
              f"worse = the interval below / above 0 and the adjusted p < {alpha:.2g}; equivalent; not resolved "
              "(a better / worse that does not survive the adjustment counts here unless its interval lies inside "
              "the margin); 'n.s.' = how many of the not-resolved and equivalent cells had an interval that "
              f"excluded 0 before the adjustment. Underpowered: fewer than {stats.MIN_SEEDS} paired seeds, not "
              "counted. Missed: cells where some seed spent more than its budget (not ranked in budget.md). "
              "Cells without a control are left out.", ""]
    counts: Dict[str, Dict[str, int]] = {}
    for t in tables:
        for name, cells in t.rows:
            if name == FULL_LABEL:
                continue
            c = counts.setdefault(name, {w: 0 for w in COUNT_WORDS + ("n.s.", stats.UNDERPOWERED, "missed")})
            for b, cell in cells.items():
                if b >= 1.0 or cell.v_ctrl is None or not cell.v_ctrl.interval.n:
                    continue
                if cell.missed:
                    c["missed"] += 1
                    continue
                word = cell.word_ctrl
                c[word] += 1
                if cell.v_ctrl.word in (stats.BETTER, stats.WORSE) and word != cell.v_ctrl.word:
                    c["n.s."] += 1
    body = [[escape_md(name)] + [str(c[w]) for w in COUNT_WORDS + ("n.s.", stats.UNDERPOWERED, "missed")]
            for name, c in counts.items()]
    lines += _md_table(["Strategy", "Better", "Worse", "Equivalent", "Not resolved", "n.s.", "Underpowered",
                        "Missed"], ["---"] + ["---:"] * 7, body)
    seeds = render_seeds_section(data)
    if seeds:
        lines += [""] + seeds
    return "\n".join(lines).rstrip("\n") + "\n"


def _train_windows(data: ReportData, key: tuple) -> str:
    """Training windows n of a workload (``report_budget.run_budget`` of its runs; '' when they disagree)."""
    runs = data.select(data.finished, key)
    epochs_ref = reference_epochs(runs)
    windows = (run_budget(r, epochs_ref)[1] for _, r in runs.iterrows())
    n = sorted({int(round(w)) for w in windows if math.isfinite(w)})
    return f"{n[0]:,}" if len(n) == 1 else ""


def render_all(data: ReportData) -> Dict[str, str]:
    """{"budget_summary.md": text} when the directory has budget runs, else {} (no file)."""
    return {"budget_summary.md": render_summary_md(data)} if budget_keys(data) else {}
