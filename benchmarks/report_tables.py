"""Text outputs of a report: tables.md, tables.tex, summary.csv, summary.md, index.md.

Every renderer takes a :class:`benchmarks.report.ReportData` and returns a string;
floats use fixed formats and rows come sorted, so output is byte-identical for the
same results. A table has one row per (strategy, ratio[, budget]) and the columns of
:func:`table_columns`: TABLE_COLUMNS, a WAPE column when results.csv has WAPE, and the
95 % interval of the per-seed dMAE.

Trust flags: ``‡`` on Eff. when the efficiency lies outside EFFICIENCY_RANGE, ``§`` on
Wall × when the table's full-data epochs ran at speeds more than LOAD_SPREAD apart
(machine load; see efficiency.md). MAPE and WAPE are never bolded for interval-scale
rows (``value_scale`` = interval, e.g. temperatures in kelvin).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from stbench.benchmarks import stats
from stbench.benchmarks.report import (
    EFFICIENCY_RANGE, FULL_EPOCH_KEPT, FULL_LABEL, HORIZONS, INTERVAL_SCALE, LOAD_SPREAD, METRICS, ReportData,
    _mean_std,
)

PM_MD, PM_TEX = "±", r"$\pm$"
DAGGER_MD, DAGGER_TEX = "†", r"$^\dagger$"
DDAGGER_MD, DDAGGER_TEX = "‡", r"$^\ddagger$"
LOAD_MD, LOAD_TEX = "§", r"$^\S$"
TEX_MACROS = (DAGGER_TEX, DDAGGER_TEX, LOAD_TEX)

HEADER_LINES = (
    "Test error as mean ± std over seeds (sample std, ddof = 1; the mean alone when n = 1); "
    "n = finished seeds. MAPE in percent. Best (lowest) mean of each error column in bold.",
    "\"avg\" is pooled over all 12 forecast steps (sum of errors over all steps / count of valid "
    "entries), not the mean of per-step values.",
    "Speedups are computed per run against the full-data run with the same seed, then averaged "
    "over seeds: Wall = train-loop wall-clock time (PRIMARY; evaluation and pruner time excluded), "
    "Pass = per-sample forward passes (= the ideal speedup), Step = optimizer steps; "
    "Saved = fraction of passes saved; Eff. = Wall / ideal; dMAE = change of the average MAE "
    "against full data (negative = better).",
)
NOTE_FALLBACK = ("{dagger} no full-data run with the same seed for some runs of this row: "
                 "relative to the mean over the full-data runs.")
NOTE_NO_FULL = "No finished full-data run: speedups, efficiency and dMAE are left blank."


NOTE_LOAD = ("{sym} machine load: the mean train-loop time of a full-data epoch (kept fraction 1) "
             "ranges from {lo:.2f} s to {hi:.2f} s over this table's runs ({spread:+.0%}, more than "
             "{limit:.0%} apart), so the machine's speed changed between runs: Wall × and Eff. are not "
             "results here; Pass × is the speedup (see efficiency.md).")
NOTE_EFF = ("{sym} efficiency outside [{lo:g}, {hi:g}]: the train-loop time did not follow the saved "
            "passes (overhead, or machine load between runs; see efficiency.md); read Pass × as the speedup.")
NOTE_INTERVAL = ("MAPE and WAPE are meaningless for interval-scale data (value_scale = interval, e.g. "
                 "temperatures in kelvin, whose zero is arbitrary): shown, never bolded; compare MAE and RMSE.")
NOTE_CI = ("dMAE 95 % CI: t interval of the per-seed dMAE against the full-data run of the same seed, and its "
           "verdict with margin delta = {margin:g} % of full@1's MAE: better (below 0), worse (above 0), "
           "equivalent (inside [-delta, +delta]), not resolved, underpowered (fewer than {min_seeds} seeds; "
           "not adjusted for multiplicity, see budget_summary.md for the adjusted verdicts).")


@dataclass(frozen=True)
class Column:
    """One numeric table column: the mean (and std) of ``quantity`` x ``scale``."""

    md: str
    tex: str
    quantity: str
    decimals: int
    scale: float = 1.0
    std: bool = True
    best: bool = False       # bold the lowest mean
    signed: bool = False
    group: str = ""          # LaTeX super-header
    ratio_scale: bool = False  # meaningless (never bold) for interval-scale rows
    text: Optional[Callable[[pd.Series], str]] = None  # a computed text cell instead of mean ± std


def _error_columns() -> List[Column]:
    spec = {"mae": ("MAE", 3, 1.0), "rmse": ("RMSE", 3, 1.0), "mape": ("MAPE (%)", 2, 100.0)}
    cols = []
    for h in HORIZONS + ("avg",):
        for m in METRICS:
            name, dec, scale = spec[m]
            q = m if h == "avg" else f"{m}@{h}"
            tag = "avg" if h == "avg" else f"@{h}"
            group = "Average (pooled)" if h == "avg" else f"Horizon {h}"
            md = f"{name.split(' ')[0]} {tag}" + (" (%)" if m == "mape" else "")
            cols.append(Column(md, name.replace("%", r"\%"), q, dec, scale, best=True, group=group,
                               ratio_scale=(m == "mape")))
    return cols


def dmae_ci_text(row: pd.Series) -> str:
    """``[lo, hi] word`` of the per-seed dMAE (%), word = the row's ``dmae_pct_verdict``
    (report.dmae_verdicts); '' for the full-data reference and without two seeds compared
    with their own full run."""
    if row["strategy"] == FULL_LABEL and not _finite_budget(row):
        return ""
    n = row.get("dmae_pct_paired", 0)
    iv = stats.Interval(float(row.get("dmae_pct_mean", np.nan)), float(row.get("dmae_pct_lo", np.nan)),
                        float(row.get("dmae_pct_hi", np.nan)), int(n) if np.isfinite(n) else 0)
    if not iv.has_interval:
        return ""
    bounds = f"[{fmt_number(iv.lo, 2, True)}, {fmt_number(iv.hi, 2, True)}]"
    word = row.get("dmae_pct_verdict", "")
    return f"{bounds} {word}" if isinstance(word, str) and word else bounds


def _finite_budget(row: pd.Series) -> bool:
    b = row.get("budget", np.nan)
    return b is not None and isinstance(b, (int, float)) and math.isfinite(b)


TABLE_COLUMNS: Tuple[Column, ...] = tuple(_error_columns()) + (
    Column("Train (s)", "Train (s)", "train_seconds", 1),
    Column("Wall ×", "Wall", "wall_speedup", 2, group="Speedup ($\\times$)"),
    Column("Pass ×", "Pass", "pass_speedup", 2, std=False, group="Speedup ($\\times$)"),
    Column("Step ×", "Step", "step_speedup", 2, std=False, group="Speedup ($\\times$)"),
    Column("Saved (%)", r"Saved (\%)", "passes_saved", 1, 100.0, std=False),
    Column("Eff.", "Eff.", "efficiency", 2, std=False),
    Column("dMAE (%)", r"$\Delta$MAE (\%)", "dmae_pct", 2, std=False, signed=True),
)
WAPE_COLUMN = Column("WAPE avg (%)", r"WAPE (\%)", "wape", 2, 100.0, best=True, group="Average (pooled)",
                     ratio_scale=True)
CI_COLUMN = Column("dMAE 95% CI", r"$\Delta$MAE 95\% CI", "dmae_pct", 2, text=dmae_ci_text)
DAGGER_QUANTITY = "wall_speedup"
EFF_QUANTITY = "efficiency"


def table_columns(rows: pd.DataFrame) -> List[Column]:
    """TABLE_COLUMNS, with WAPE after MAPE avg when some row has a WAPE, and the dMAE
    interval last when some row has one."""
    cols = list(TABLE_COLUMNS)
    if "wape_mean" in rows.columns and np.isfinite(rows["wape_mean"].to_numpy(dtype=float)).any():
        at = next(i for i, c in enumerate(cols) if c.quantity == "mape") + 1
        cols.insert(at, WAPE_COLUMN)
    if any(dmae_ci_text(r) for _, r in rows.iterrows()):
        cols.append(CI_COLUMN)
    return cols


def has_budget_rows(rows: pd.DataFrame) -> bool:
    return "budget" in rows.columns and bool(rows["budget"].notna().any())


def ratio_text(strategy: str, ratio: float, budget: float = float("nan")) -> str:
    """The Ratio cell: '-' for full data and for budget runs (whose ratio is not set), else the ratio."""
    if strategy == FULL_LABEL or (budget is not None and math.isfinite(budget)):
        return "-"
    return fmt_ratio(ratio)


def fmt_budget(value: float) -> str:
    return f"{value:g}" if value is not None and math.isfinite(value) else "-"


# ----------------------------------------------------------------------------- formatting
def fmt_number(value: float, decimals: int, signed: bool = False) -> str:
    """Fixed-point text; '' for NaN/inf; '-0.00' is printed as '0.00' (or '+0.00')."""
    if value is None or not math.isfinite(value):
        return ""
    text = f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"
    if float(text) == 0.0:
        text = f"{0.0:+.{decimals}f}" if signed else f"{0.0:.{decimals}f}"
    return text


def fmt_ratio(ratio: float) -> str:
    return f"{ratio:g}"


def escape_tex(text: str) -> str:
    table = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
             "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
    return "".join(table.get(ch, ch) for ch in str(text))


def escape_md(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _cell(row: pd.Series, col: Column, pm: str) -> str:
    if col.text is not None:
        return col.text(row)
    mean = row[f"{col.quantity}_mean"] * col.scale
    text = fmt_number(mean, col.decimals, col.signed)
    std = row[f"{col.quantity}_std"] * col.scale
    if text and col.std and math.isfinite(std):
        text = f"{text} {pm} {fmt_number(std, col.decimals)}"
    return text


def best_rows(rows: pd.DataFrame, col: Column) -> np.ndarray:
    """Boolean mask of the rows whose mean, rounded as printed, is the lowest of the column;
    for a ratio-scale metric (MAPE, WAPE) interval-scale rows never count."""
    shown = np.array([round(v * col.scale, col.decimals) if math.isfinite(v) else np.inf
                      for v in rows[f"{col.quantity}_mean"].to_numpy(dtype=float)])
    if col.ratio_scale and "value_scale" in rows.columns:
        shown[(rows["value_scale"] == INTERVAL_SCALE).to_numpy()] = np.inf
    if not np.isfinite(shown).any():
        return np.zeros(len(rows), dtype=bool)
    return shown == shown.min()


def _n_text(row: pd.Series) -> str:
    return f"{row['n']}" + (f" ({row['n_failed']} failed)" if row["n_failed"] else "")


def efficiency_flagged(value: float) -> bool:
    return bool(math.isfinite(value) and not (EFFICIENCY_RANGE[0] <= value <= EFFICIENCY_RANGE[1]))


def _is_reference(row: pd.Series) -> bool:
    return row["strategy"] == FULL_LABEL and not _finite_budget(row)


def _table_cells(rows: pd.DataFrame, columns: Sequence[Column], pm: str, bold: Callable[[str], str],
                 marks: Dict[str, str], esc: Callable[[str], str], load: bool = False) -> List[List[str]]:
    """Rows of cell texts: strategy, ratio, [budget,] n, then ``columns``. ``marks``:
    symbols 'dagger' (reference fallback), 'eff' (efficiency flag), 'load' (machine load)."""
    best = {c.quantity: best_rows(rows, c) for c in columns if c.best}
    with_budget = has_budget_rows(rows)
    out = []
    for i, (_, row) in enumerate(rows.iterrows()):
        cells = [esc(row["strategy"]), ratio_text(row["strategy"], row["ratio"], row.get("budget", np.nan))]
        cells += [fmt_budget(row["budget"])] if with_budget else []
        cells.append(esc(_n_text(row)))
        for col in columns:
            text = _cell(row, col, pm)
            if col.text is not None:
                cells.append(esc(text))
                continue
            if text and col.best and best[col.quantity][i]:
                text = bold(text)
            if text and col.quantity == DAGGER_QUANTITY and row["reference"] == "mean":
                text += marks["dagger"]
            if text and col.quantity == DAGGER_QUANTITY and load and not _is_reference(row):
                text += marks["load"]
            if text and col.quantity == EFF_QUANTITY and efficiency_flagged(row["efficiency_mean"]):
                text += marks["eff"]
            cells.append(text)
        out.append(cells)
    return out


def _table_notes(data: Optional[ReportData], key: Optional[tuple], rows: pd.DataFrame, columns: Sequence[Column],
                 marks: Dict[str, str]) -> List[str]:
    notes = []
    if (rows["reference"] == "none").all():
        notes.append(NOTE_NO_FULL)
    elif (rows["reference"] == "mean").any():
        notes.append(NOTE_FALLBACK.format(dagger=marks["dagger"]))
    if any(efficiency_flagged(v) for v in rows["efficiency_mean"].to_numpy(dtype=float)):
        notes.append(NOTE_EFF.format(sym=marks["eff"], lo=EFFICIENCY_RANGE[0], hi=EFFICIENCY_RANGE[1]))
    if data is not None and data.load_flagged(key):
        lo, hi, spread = data.load_check(key)
        notes.append(NOTE_LOAD.format(sym=marks["load"], lo=lo, hi=hi, spread=spread, limit=LOAD_SPREAD))
    if "value_scale" in rows.columns and (rows["value_scale"] == INTERVAL_SCALE).any():
        notes.append(NOTE_INTERVAL)
    if CI_COLUMN in columns:
        margin = data.rules.margin_pct if data is not None else stats.DEFAULT_MARGIN_PCT
        notes.append(NOTE_CI.format(margin=margin, min_seeds=stats.MIN_SEEDS))
    return notes


MD_MARKS = {"dagger": DAGGER_MD, "eff": DDAGGER_MD, "load": LOAD_MD}
TEX_MARKS = {"dagger": DAGGER_TEX, "eff": DDAGGER_TEX, "load": LOAD_TEX}


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in str(text).lower()).strip("-") or "x"


def table_label(key: tuple) -> str:
    return "tab:" + "-".join(_slug(k) for k in key if str(k))


# ----------------------------------------------------------------------------- markdown
def _md_table(header: Sequence[str], align: Sequence[str], body: Sequence[Sequence[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return lines


def render_failed_md(data: ReportData) -> List[str]:
    lines = ["## Failed runs", ""]
    if data.failed.empty:
        return lines + ["None.", ""]
    body = [[escape_md(r["run_id"]), escape_md(r["dataset"]), escape_md(r["model"]),
             escape_md(r["strategy"]), fmt_ratio(r["ratio"]), str(r["seed"]), escape_md(r["status"]),
             escape_md(r["error"]) or "(no error recorded)"] for _, r in data.failed.iterrows()]
    header = ["run", "dataset", "model", "strategy", "ratio", "seed", "status", "error"]
    lines += _md_table(header, ["---"] * 4 + ["---:", "---:", "---", "---"], body)
    return lines + ["", "Failed runs are excluded from every mean and speedup.", ""]


def render_tables_md(data: ReportData) -> str:
    lines = ["# Results", ""] + [f"{t}\n" for t in HEADER_LINES]
    if not data.table_keys():
        lines += ["No finished runs.", ""]
    for key in data.table_keys():
        rows = data.select(data.summary, key)
        columns = table_columns(rows)
        with_budget = has_budget_rows(rows)
        header = ["Strategy", "Ratio"] + (["Budget"] if with_budget else []) + ["n"] + [c.md for c in columns]
        align = ["---", "---:"] + (["---:"] if with_budget else []) + ["---:"] + ["---:"] * len(columns)
        body = _table_cells(rows, columns, PM_MD, lambda t: f"**{t}**", MD_MARKS, escape_md,
                            load=data.load_flagged(key))
        lines += [f"## {data.title(key)}", ""] + _md_table(header, align, body) + [""]
        notes = _table_notes(data, key, rows, columns, MD_MARKS)
        lines += [f"- {n}" for n in notes]
        if notes:
            lines.append("")
    lines += render_failed_md(data)
    return "\n".join(lines).rstrip("\n") + "\n"


# ----------------------------------------------------------------------------- LaTeX
def _tex_groups(columns: Sequence[Column], first_col: int) -> Tuple[str, str]:
    """The super-header row (one \\multicolumn per named group) and its \\cmidrule line."""
    cells, rules, col = [""] * (first_col - 1), [], first_col
    for group, members in itertools.groupby(columns, key=lambda c: c.group):
        width = len(list(members))
        if group:
            cells.append(rf"\multicolumn{{{width}}}{{c}}{{{group}}}")
            rules.append(rf"\cmidrule(lr){{{col}-{col + width - 1}}}")
        else:
            cells += [""] * width
        col += width
    return " & ".join(cells) + r" \\", "".join(rules)


def tex_caption_head(data: ReportData, key: tuple) -> str:
    """'DATASET, MODEL, OPTIMIZER (profile P, workload W)' of a table's LaTeX caption."""
    p = data.key_parts(key)
    what = ", ".join(escape_tex(x) for x in (p["dataset"], p["model"], p.get("optimizer", "")) if x)
    extra = f", workload {escape_tex(p['workload'])}" if p.get("workload") else ""
    return f"{what} (profile {escape_tex(p['profile'])}{extra})"


def render_tables_tex(data: ReportData) -> str:
    out = [
        "% Generated by stbench (benchmarks/report_tables.py). Needs \\usepackage{booktabs,graphicx}.",
        "% " + " ".join(HEADER_LINES).replace("±", "+-"),
        "",
    ]
    if not data.table_keys():
        out.append("% No finished runs.")
    for key in data.table_keys():
        rows = data.select(data.summary, key)
        columns = table_columns(rows)
        with_budget = has_budget_rows(rows)
        first = ["Strategy", "Ratio"] + (["Budget"] if with_budget else []) + ["$n$"]
        spec = "l" * 2 + "r" * (len(first) - 2) + "r" * len(columns)
        body = _table_cells(rows, columns, PM_TEX, lambda t: rf"\textbf{{{t}}}", TEX_MARKS, escape_tex,
                            load=data.load_flagged(key))
        caption = (f"{tex_caption_head(data, key)}: test error as mean $\\pm$ std over seeds "
                   f"(ddof = 1), MAPE in \\%; avg is pooled over the 12 forecast steps. Speedups "
                   f"against the full-data run with the same seed (Wall = train-loop wall-clock, "
                   f"primary; Pass = sample passes = ideal; Step = optimizer steps); "
                   f"Eff.\\ = Wall / ideal; $\\Delta$MAE negative = better. Best error in bold.")
        groups, rules = _tex_groups(columns, first_col=len(first) + 1)
        header = " & ".join(first + [c.tex for c in columns]) + r" \\"
        out += [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{caption}}}",
                rf"\label{{{table_label(data.name_key(key))}}}", r"\resizebox{\textwidth}{!}{%",
                rf"\begin{{tabular}}{{{spec}}}", r"\toprule", groups, rules, header, r"\midrule"]
        for i, cells in enumerate(body):
            out.append(" & ".join(cells) + r" \\")
            if rows.iloc[i]["strategy"] == FULL_LABEL and i + 1 < len(body) \
                    and rows.iloc[i + 1]["strategy"] != FULL_LABEL:
                out.append(r"\midrule")
        out += [r"\bottomrule", r"\end{tabular}}"]
        notes = _table_notes(data, key, rows, columns, TEX_MARKS)
        if notes:
            out.append(r"\par\smallskip{\footnotesize " + " ".join(escape_tex_note(n) for n in notes) + "}")
        out += [r"\end{table}", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def escape_tex_note(note: str) -> str:
    """Escape a note but keep the LaTeX symbol macros (TEX_MACROS) it may contain."""
    for macro in TEX_MACROS:
        head, sep, tail = note.partition(macro)
        if sep:
            return escape_tex_note(head) + sep + escape_tex_note(tail)
    return escape_tex(note)


# ----------------------------------------------------------------------------- summary
def render_summary_csv(data: ReportData) -> str:
    """The aggregated frame (one row per group), floats as %.10g, NaN as ''; ``value_scale``
    only when results.csv has it."""
    frame = data.summary if "value_scale" in data.present else data.summary.drop(columns="value_scale")
    return frame.to_csv(index=False, float_format="%.10g", na_rep="", lineterminator="\n")


SUMMARY_COLUMNS: Tuple[Tuple[str, str, int, float, bool], ...] = (
    # header, quantity, decimals, scale, signed
    ("MAE avg", "mae", 3, 1.0, False),
    ("RMSE avg", "rmse", 3, 1.0, False),
    ("MAPE avg (%)", "mape", 2, 100.0, False),
    ("Wall ×", "wall_speedup", 2, 1.0, False),
    ("Pass ×", "pass_speedup", 2, 1.0, False),
    ("Eff.", "efficiency", 2, 1.0, False),
    ("dMAE (%)", "dmae_pct", 2, 1.0, True),
)


def render_summary_md(data: ReportData) -> str:
    """Compact table: means over seeds, one row per (data set, model, strategy, ratio)."""
    s = data.summary
    with_profile = s["profile"].nunique() > 1 if len(s) else False
    header = ["dataset", "model"] + (["profile"] if with_profile else []) + ["strategy", "ratio", "n"]
    header += [h for h, *_ in SUMMARY_COLUMNS]
    body = []
    for _, row in s.iterrows():
        cells = [escape_md(row["dataset"]), escape_md(row["model"])]
        cells += [escape_md(row["profile"])] if with_profile else []
        cells += [escape_md(row["strategy"]), "-" if row["strategy"] == FULL_LABEL else fmt_ratio(row["ratio"]),
                  str(row["n"])]
        cells += [fmt_number(row[f"{q}_mean"] * sc, d, sg) for _, q, d, sc, sg in SUMMARY_COLUMNS]
        body.append(cells)
    align = ["---"] * (len(header) - len(SUMMARY_COLUMNS) - 2) + ["---:"] * (len(SUMMARY_COLUMNS) + 2)
    lines = ["Means over n seeds; avg pooled over the 12 steps; Wall = train-loop wall-clock speedup "
             "(primary), Pass = sample-pass speedup (ideal), Eff. = Wall / Pass; dMAE negative = better.", ""]
    lines += _md_table(header, align, body) if body else ["No finished runs."]
    n_failed = len(data.failed)
    if n_failed:
        lines += ["", f"{n_failed} failed run(s): see index.md."]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- convergence
#: a run counts as converged when its best validation MAE improved by less than this (%) in
#: the last CONVERGENCE_TAIL of its epochs
CONVERGENCE_TOL_PCT = 1.0
CONVERGENCE_TAIL = 0.2


def _strategy_groups(data: ReportData):
    """Per table key: (key, [((strategy, ratio, budget), finished runs)]), both in report order
    (data.finished is already sorted by strategy order, budget, ratio and seed)."""
    for key in data.table_keys():
        runs = data.select(data.finished, key)
        yield key, [((k[0], k[1], k[2]), g) for k, g in
                    runs.groupby(["strategy", "ratio", "budget"], sort=False, dropna=False)]


def _setting_cells(strategy: str, ratio: float, budget: float, with_budget: bool) -> List[str]:
    """Strategy, ratio (and budget) cells of a row."""
    cells = [escape_md(strategy), ratio_text(strategy, ratio, budget)]
    return cells + ([fmt_budget(budget)] if with_budget else [])


def tail_gain_pct(val_mae: Sequence[float], tail: float = CONVERGENCE_TAIL) -> float:
    """Relative improvement (%) of the best val MAE made in the last ``tail`` fraction of the epochs.

    With E epochs and k = ceil(tail * E): ``100 * (min(v[:E-k]) - min(v[E-k:])) / min(v[:E-k])``,
    how much the kept (best-validation) checkpoint still gained in the tail; 0 or less = the
    best epoch came before the tail. A spike just before the tail cannot set it. NaN when
    fewer than two epochs.
    """
    v = np.asarray(val_mae, dtype=float)
    if len(v) < 2:
        return float("nan")
    k = min(len(v) - 1, max(1, math.ceil(tail * len(v))))
    ref = np.nanmin(v[:len(v) - k])
    return float(100.0 * (ref - np.nanmin(v[len(v) - k:])) / ref)


def tail_trend_pct(val_mae: Sequence[float], tail: float = CONVERGENCE_TAIL) -> float:
    """Relative change (%) of the mean val MAE of the last ``tail`` of the epochs against the
    mean of the same number of epochs just before: a trend that one noisy epoch cannot set.

    With E epochs and k = ceil(tail * E): ``100 * (mean(v[E-2k:E-k]) - mean(v[E-k:])) /
    mean(v[E-2k:E-k])``; positive = still improving. NaN when E < 2k (no window before).
    """
    v = np.asarray(val_mae, dtype=float)
    k = max(1, math.ceil(tail * len(v)))
    if len(v) < 2 * k:
        return float("nan")
    before, last = np.nanmean(v[len(v) - 2 * k:len(v) - k]), np.nanmean(v[len(v) - k:])
    return float(100.0 * (before - last) / before)


def render_convergence_md(data: ReportData) -> str:
    """Per (data set, model, profile) and strategy: epochs, best epoch, tail gain and trend; full data first."""
    lines = ["# Convergence", "",
             f"Tail gain = improvement of the best validation MAE reached in the last {CONVERGENCE_TAIL:.0%} "
             f"of the epochs over the best before them, i.e. how much the kept (best-validation) checkpoint "
             f"still gained there (%; mean ± std over seeds, max over seeds; 0 or less = the best epoch came "
             f"before); "
             f"a group counts as flat when every seed gained less than {CONVERGENCE_TOL_PCT:g} %. "
             f"Tail trend = improvement of the mean validation MAE of those epochs over the mean of the "
             f"{CONVERGENCE_TAIL:.0%} before them (%; mean ± std over seeds): unlike the gain, one noisy "
             "epoch cannot set it. Best epoch is 0-based. The validation curves are in figures/val_curve_*.", ""]
    if data.finished.empty:
        return "\n".join(lines + ["No finished runs."]) + "\n"
    for key, groups in _strategy_groups(data):
        body = []
        with_budget = any(np.isfinite(b) for (_, _, b), _ in groups)
        for (strategy, ratio, budget), grp in groups:
            gains, trends, bests, epochs = [], [], [], []
            for _, run in grp.iterrows():
                curve = data.curve(run["run_id"])
                if curve is None or "val_mae" not in curve.columns:
                    continue
                val = curve["val_mae"].to_numpy()
                gains.append(tail_gain_pct(val))
                trends.append(tail_trend_pct(val))
                bests.append(float(run["best_epoch"]))
                epochs.append(int(run["epochs"]))
            if not gains:
                continue
            g, t = np.asarray(gains), np.asarray(trends)
            finite = g[np.isfinite(g)]
            # too few epochs for a tail (a 1-epoch control at a small budget): '-'
            flat = "-" if finite.size == 0 else ("yes" if np.all(finite < CONVERGENCE_TOL_PCT) else "no")
            body.append(_setting_cells(strategy, ratio, budget, with_budget) + [
                str(len(g)), ", ".join(str(e) for e in sorted(set(epochs))), f"{np.mean(bests):.1f}",
                _fmt_mean_std(g, signed=True), f"{np.max(finite):+.2f}" if finite.size else "-", flat,
                _fmt_mean_std(t, signed=True)])
        if body:
            lines += [f"## {data.title(key)}", ""]
            lines += _md_table(["Strategy", "Ratio"] + (["Budget"] if with_budget else []) +
                               ["n", "Epochs", "Best epoch", "Tail gain (%)", "Max (%)", "Flat", "Tail trend (%)"],
                               ["---", "---:"] + (["---:"] if with_budget else []) +
                               ["---:", "---:", "---:", "---:", "---:", "---", "---:"], body) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


# ----------------------------------------------------------------------------- efficiency within a run
def inrun_efficiency(curve: pd.DataFrame) -> Tuple[float, float, float]:
    """(ms per sample pass in the run's full-data epochs, in its pruned epochs, their ratio).

    ``c_full = 1000 * sum(train_seconds) / sum(sample_passes)`` over the epochs with
    kept_fraction = 1, ``c_pruned`` the same over the other epochs, and the in-run
    efficiency ``c_full / c_pruned`` (1 = a skipped pass saves exactly its cost). Both
    costs come from the same run, so machine-speed drift between runs cancels out.
    NaN where the run has no full-data or no pruned epoch, or the curve lacks a column.
    """
    nan = (float("nan"),) * 3
    if curve is None or not {"train_seconds", "sample_passes", "kept_fraction"} <= set(curve.columns):
        return nan
    full = curve["kept_fraction"].to_numpy(dtype=float) >= FULL_EPOCH_KEPT
    t = curve["train_seconds"].to_numpy(dtype=float)
    n = curve["sample_passes"].to_numpy(dtype=float)

    def cost(mask: np.ndarray) -> float:
        return 1000.0 * t[mask].sum() / n[mask].sum() if n[mask].sum() > 0 else float("nan")

    c_full, c_pruned = cost(full), cost(~full)
    return c_full, c_pruned, (c_full / c_pruned if np.isfinite(c_full) and np.isfinite(c_pruned) else float("nan"))


def _fmt_mean_std(values: np.ndarray, decimals: int = 2, signed: bool = False) -> str:
    """'mean ± std' over the finite values (just 'mean' for one, '-' for none); ``signed``: '+mean'."""
    mean, std, n = _mean_std(values)
    if n == 0:
        return "-"
    return f"{mean:{'+' if signed else ''}.{decimals}f}" + (f" ± {std:.{decimals}f}" if n > 1 else "")


def _fmt_eff(values: np.ndarray) -> str:
    """Like _fmt_mean_std, with the ‡ flag when the mean lies outside EFFICIENCY_RANGE."""
    text = _fmt_mean_std(values)
    mean = _mean_std(values)[0]
    return text + (f" {DDAGGER_MD}" if efficiency_flagged(mean) else "")


def render_efficiency_md(data: ReportData) -> str:
    """Per (data set, model, profile) and strategy: efficiency across runs and within a run,
    and the machine-load check of the table."""
    lines = ["# Pruning efficiency", "",
             "Eff. = Wall × / Pass ×, the train-loop speedup over the ideal one, with the full-data run "
             "of the same seed as reference (as in tables.md); runs made at different times share any "
             "drift in machine speed. In-run eff. = the run's own ms per sample pass in its full-data "
             "epochs (kept fraction 1: warm-up, annealing) over that in its pruned epochs, so drift "
             "between runs cancels; '-' where a run has no epoch of one kind. Means ± std over seeds.",
             "",
             f"Trust flags. {DDAGGER_MD}: Eff. outside [{EFFICIENCY_RANGE[0]:g}, {EFFICIENCY_RANGE[1]:g}]. "
             f"Machine load: per run, the mean train-loop seconds of its full-data epochs (kept fraction 1); "
             f"when these differ by more than {LOAD_SPREAD:.0%} between the runs of one table (max / min - 1), "
             f"the machine ran at different speeds (other jobs, thermal or frequency changes), so the "
             f"table's Wall × and Eff. measure the load, not the strategy: they are marked {LOAD_MD} in "
             f"tables.md, and Pass × is the speedup to read.",
             ""]
    if data.finished.empty:
        return "\n".join(lines + ["No finished runs."]) + "\n"
    for key, groups in _strategy_groups(data):
        body = []
        with_budget = any(np.isfinite(b) for (_, _, b), _ in groups)
        for (strategy, ratio, budget), grp in groups:
            if strategy == FULL_LABEL and not np.isfinite(budget):
                continue
            per_run = np.array([inrun_efficiency(data.curve(rid)) for rid in grp["run_id"]], dtype=float)
            body.append(_setting_cells(strategy, ratio, budget, with_budget) + [str(len(grp))] +
                        [_fmt_mean_std(grp[q].to_numpy(dtype=float)) for q in ("pass_speedup", "wall_speedup")] +
                        [_fmt_eff(grp["efficiency"].to_numpy(dtype=float))] +
                        [_fmt_mean_std(per_run[:, j]) for j in range(3)])
        lo, hi, spread = data.load_check(key)
        if np.isfinite(spread):
            verdict = (f"{LOAD_MD} more than {LOAD_SPREAD:.0%}: machine load; Wall × and Eff. of this table "
                       f"are not results" if spread > LOAD_SPREAD else f"within {LOAD_SPREAD:.0%}")
            load = (f"Machine load: full-data epochs took {lo:.2f} to {hi:.2f} s (mean per run; "
                    f"spread {spread:+.1%}): {verdict}.")
        else:
            load = "Machine load: fewer than two runs with full-data epochs in curve.csv; not checked."
        if body or np.isfinite(spread):
            lines += [f"## {data.title(key)}", "", load, ""]
        if body:
            lines += _md_table(["Strategy", "Ratio"] + (["Budget"] if with_budget else []) +
                               ["n", "Pass ×", "Wall ×", "Eff.", "ms/pass full epochs",
                                "ms/pass pruned epochs", "In-run eff."],
                               ["---", "---:"] + (["---:"] if with_budget else []) +
                               ["---:", "---:", "---:", "---:", "---:", "---:", "---:"], body) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


# ----------------------------------------------------------------------------- index
def _values(series: pd.Series, fmt: Callable = str) -> str:
    return ", ".join(fmt(v) for v in sorted(set(series))) if len(series) else "(none)"


#: index.md descriptions of the figures, by file-name prefix
FIGURE_DESCRIPTIONS: Dict[str, str] = {
    "pareto": "test MAE against the train-loop wall-clock speedup (log axis), Pareto front",
    "val_curve": "validation MAE against wall-clock, one panel per strategy, full data in each",
    "mae_vs_ratio": "test MAE against the prune ratio, full data as a band",
    "kept_fraction": "kept fraction of the training windows per epoch, one panel per strategy",
    "budget_accuracy": "dMAE against full@1 over the speedup 1/b (log axis), 95 % bands, control dashed",
    "tta": "time-to-accuracy speedup (sample passes, eps = 1 %) per setting, 95 % intervals",
    "performance_profile": "performance profile over all workloads (share of workloads within tau of the best)",
}


def _describe(name: str, descriptions: Dict[str, str]) -> str:
    if name in descriptions:
        return descriptions[name]
    if name.startswith("figures/"):
        stem = name[len("figures/"):].rsplit(".", 1)[0]
        for prefix in sorted(FIGURE_DESCRIPTIONS, key=len, reverse=True):
            if stem == prefix or stem.startswith(prefix + "_"):
                return FIGURE_DESCRIPTIONS[prefix]
    return ""


def render_index_md(data: ReportData, written: Sequence[str],
                    skipped: Optional[Sequence[Tuple[str, str, str]]],
                    extra_notes: Sequence[str] = ()) -> str:
    """``written``: relative file names; ``skipped``: (figure, panel, reason), or None
    when no figures were requested."""
    runs, n_fin, n_fail = data.runs, len(data.finished), len(data.failed)
    n_aside = len(data.set_aside)
    lines = ["# Benchmark report", "",
             f"Source: results.csv, {len(runs)} run(s): {n_fin} finished (used), {n_fail} failed"
             + (f", {n_aside} set aside (duplicates)" if n_aside else "") + ".", ""]
    grid = [("data sets", _values(runs["dataset"])), ("models", _values(runs["model"])),
            ("strategies", ", ".join(data.strategies) or "(none)"),
            ("prune ratios", _values(runs["ratio"], fmt_ratio)), ("seeds", _values(runs["seed"])),
            ("profiles", _values(runs["profile"]))]
    if data.has_budget:
        grid.insert(4, ("budgets", _values(runs["budget"].dropna(), fmt_ratio)))
    for col, axis in (("optimizer", "optimizers"), ("workload", "workloads")):
        if col in data.present and runs[col].ne("").any():
            grid.append((axis, _values(runs.loc[runs[col] != "", col])))
    lines += ["## Grid", ""] + _md_table(["axis", "values"], ["---", "---"],
                                         [[a, escape_md(v)] for a, v in grid]) + [""]
    descriptions: Dict[str, str] = {
        "tables.md": "per data set and model: errors at horizons 3/6/12 and pooled average, "
                     "train time, speedups, efficiency, dMAE",
        "tables.tex": "the same tables in LaTeX (booktabs, graphicx)",
        "summary.csv": "one row per (workload, strategy, ratio, budget): means, stds, dMAE interval",
        "summary.md": "compact summary table",
        "convergence.md": "per strategy: best epoch and the validation-MAE gain over the last 20 % of "
                          "the epochs (is the run converged?)",
        "efficiency.md": "per strategy: pruning efficiency across runs and within a run (drift-free); "
                         "machine-load check per table",
        "budget.md": "per workload with budget runs: dMAE against full@1 and against the full-data "
                     "control at the same budget (paired 95 % t intervals, verdicts at the margin, adjusted "
                     "p-values), Pass ×, Wall ×; native runs; best setting per budget (selected on validation)",
        "budget_summary.md": "one page over the budget workloads: best setting per budget (selected on "
                             "validation), saving without loss, verdicts against the control per strategy",
        "budget.tex": "the budget tables in LaTeX",
        "tta.md": "time to accuracy: train seconds and sample passes until the validation MAE first "
                  "reaches (1 + eps) x full@1's best, eps = 1 %, 0.5 %, 2 %; TTA speedups",
        "profile.md": "performance profile (AlgoPerf) of every setting over every workload, with scores",
        "index.md": "this file",
    }
    lines += ["## Files", ""]
    for name in sorted(set(written) | {"index.md"}):
        desc = _describe(name, descriptions)
        lines.append(f"- `{name}`" + (f": {desc}" if desc else ""))
    lines.append("")
    lines += ["## Figures skipped", ""]
    if skipped is None:
        lines.append("Figures were not requested.")
    else:
        lines += [f"- {fig} for {escape_md(panel)}: {reason}" for fig, panel, reason in skipped] or ["None."]
    lines.append("")
    lines += render_failed_md(data)
    lines += ["## Runs set aside", ""]
    lines += [f"- {escape_md(n)}" for n in data.set_aside] or [
        "None (at most one finished run per cell: workload, strategy, ratio, budget, seed)."]
    lines.append("")
    notes = list(data.notes) + list(extra_notes)
    if notes:
        lines += ["## Notes", ""] + [f"- {escape_md(n)}" for n in notes] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"
