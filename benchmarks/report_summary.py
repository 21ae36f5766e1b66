"""One page over every budget workload of a results directory: ``budget_summary.md``.

Built from :func:`benchmarks.report_budget.budget_table` (the same cells as budget.md)::

    Best per budget     per workload and budget b, the setting with the lowest mean test
                        MAE among those that kept to b (the full-data control included;
                        it wins exact ties), its dMAE vs full@1 (95 % paired t interval,
                        'tie' when it contains 0) and how it compares with the control.
    Saving without loss per workload: the largest speedup 1/b such that at b and at every
                        larger budget of the workload some setting of the group is not
                        worse than full@1 (dMAE interval lo <= 0: a tie or better; at least
                        two paired seeds). Groups: the control alone, the pruning strategies
                        (any of them), and both. '-' when even the largest budget fails.
    Against the control per strategy: how many of its budget cells are better than the
                        control at the same budget (interval hi < 0), a tie, or worse (lo > 0).

Every number is formatted from sorted inputs, so the same results give the same bytes.
"""
from __future__ import annotations

import math
from typing import Dict, List, Tuple

from stbench.benchmarks import stats
from stbench.benchmarks.report import FULL_LABEL, ReportData
from stbench.benchmarks.report_budget import (Cell, best_at, budget_keys, budget_table, budget_text, reference_epochs,
                                             run_budget, speedup_text)
from stbench.benchmarks.report_tables import _md_table, escape_md, fmt_number

CONTROL = "control"


def not_worse(cell: Cell) -> bool:
    """A tie with full@1 or better: the paired interval's lower end <= 0 (two seeds at least)."""
    iv = cell.vs_ref
    return iv.has_interval and iv.lo <= 0.0


def vs_control_word(iv: stats.Interval) -> str:
    if not iv.has_interval:
        return ""
    if iv.hi < 0:
        return "better"
    if iv.lo > 0:
        return "worse"
    return "tie"


def affordable(rows: List[Tuple[str, Dict[float, Cell]]], budgets: List[float],
               members) -> Tuple[float, List[str]]:
    """(smallest b of the descending ``budgets`` such that at b and every larger budget some
    setting in ``members`` (a predicate on the name) is not worse than full@1, the names that
    qualify at that b); (NaN, []) when the largest budget already fails."""
    found, names = float("nan"), []
    for b in sorted(budgets, reverse=True):
        ok = sorted(name for name, cells in rows
                    if members(name) and b in cells and not cells[b].missed and not_worse(cells[b]))
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


def render_summary_md(data: ReportData) -> str:
    lines = ["# Summary at equal compute", ""]
    keys = budget_keys(data)
    if not keys:
        return "\n".join(lines + ["No budget runs in this results directory: see budget.md."]) + "\n"
    tables = [budget_table(data, k) for k in keys]
    budgets = sorted({b for t in tables for b in t.budgets if b < 1.0}, reverse=True)
    lines += ["## Best setting per budget", "",
              "Per workload and budget b: the setting with the lowest mean test MAE among those that kept to "
              "b (control = full data with the schedule shortened to b; it wins exact ties), its dMAE against "
              "full data at b = 1 in % (mean and 95 % paired t interval over the seeds; 'tie' = the interval "
              "contains 0), and, for a pruning strategy, whether it is better than the control at b, a tie or "
              "worse (the same interval of the difference to the control). Blank: the workload has no runs "
              "at b. budget.md holds every strategy.", ""]
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
            text = f"{_label(name)} {stats.fmt_interval(cell.vs_ref)}"
            if name != FULL_LABEL:
                word = vs_control_word(cell.vs_ctrl)
                text += f"; {word} vs control" if word else ""
            row.append(escape_md(text))
        body.append(row)
    lines += _md_table(header, ["---", "---:", "---:"] + ["---"] * len(budgets), body) + [""]

    lines += ["## Saving without loss", "",
              "The largest speedup 1/b such that at b and at every larger budget of the workload some setting "
              "of the column is not worse than full data at b = 1 (paired 95 % interval of dMAE vs full@1 with "
              "its lower end <= 0: a tie or better), with the settings that qualify at that b. '-': not even "
              "at the largest budget run.", ""]
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
              "Budget cells (workload x budget, b < 1) of each pruning strategy by the paired 95 % interval of "
              "its dMAE against the full-data control at the same budget: better (interval below 0), tie, "
              "worse (above 0); cells with one seed or no control are not counted. Missed: cells where some "
              "seed spent more than its budget (not ranked in budget.md).", ""]
    counts: Dict[str, Dict[str, int]] = {}
    for t in tables:
        for name, cells in t.rows:
            if name == FULL_LABEL:
                continue
            c = counts.setdefault(name, {"better": 0, "tie": 0, "worse": 0, "missed": 0})
            for b, cell in cells.items():
                if b >= 1.0:
                    continue
                if cell.missed:
                    c["missed"] += 1
                    continue
                word = vs_control_word(cell.vs_ctrl)
                if word:
                    c[word] += 1
    body = [[escape_md(name), str(c["better"]), str(c["tie"]), str(c["worse"]), str(c["missed"])]
            for name, c in counts.items()]
    lines += _md_table(["Strategy", "Better", "Tie", "Worse", "Missed"], ["---"] + ["---:"] * 4, body)
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
