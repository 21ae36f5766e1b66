"""Text outputs of a report: tables.md, tables.tex, summary.csv, summary.md, index.md.

Every renderer takes a :class:`benchmarks.report.ReportData` and returns a string;
floats use fixed formats and rows come sorted, so output is byte-identical for the
same results. A table has one row per (strategy, ratio) and the columns of TABLE_COLUMNS.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from benchmarks.report import FULL_LABEL, HORIZONS, METRICS, ReportData, _mean_std

PM_MD, PM_TEX = "±", r"$\pm$"
DAGGER_MD, DAGGER_TEX = "†", r"$^\dagger$"

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
            cols.append(Column(md, name.replace("%", r"\%"), q, dec, scale, best=True, group=group))
    return cols


TABLE_COLUMNS: Tuple[Column, ...] = tuple(_error_columns()) + (
    Column("Train (s)", "Train (s)", "train_seconds", 1),
    Column("Wall ×", "Wall", "wall_speedup", 2, group="Speedup ($\\times$)"),
    Column("Pass ×", "Pass", "pass_speedup", 2, std=False, group="Speedup ($\\times$)"),
    Column("Step ×", "Step", "step_speedup", 2, std=False, group="Speedup ($\\times$)"),
    Column("Saved (%)", r"Saved (\%)", "passes_saved", 1, 100.0, std=False),
    Column("Eff.", "Eff.", "efficiency", 2, std=False),
    Column("dMAE (%)", r"$\Delta$MAE (\%)", "dmae_pct", 2, std=False, signed=True),
)
DAGGER_QUANTITY = "wall_speedup"


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
    mean = row[f"{col.quantity}_mean"] * col.scale
    text = fmt_number(mean, col.decimals, col.signed)
    std = row[f"{col.quantity}_std"] * col.scale
    if text and col.std and math.isfinite(std):
        text = f"{text} {pm} {fmt_number(std, col.decimals)}"
    return text


def best_rows(rows: pd.DataFrame, col: Column) -> np.ndarray:
    """Boolean mask of the rows whose mean, rounded as printed, is the lowest of the column."""
    shown = np.array([round(v * col.scale, col.decimals) if math.isfinite(v) else np.inf
                      for v in rows[f"{col.quantity}_mean"].to_numpy(dtype=float)])
    if not np.isfinite(shown).any():
        return np.zeros(len(rows), dtype=bool)
    return shown == shown.min()


def _n_text(row: pd.Series) -> str:
    return f"{row['n']}" + (f" ({row['n_failed']} failed)" if row["n_failed"] else "")


def _table_cells(rows: pd.DataFrame, pm: str, bold: Callable[[str], str],
                 dagger: str, esc: Callable[[str], str]) -> List[List[str]]:
    """Rows of cell texts: strategy, ratio, n, then TABLE_COLUMNS."""
    best = {c.quantity: best_rows(rows, c) for c in TABLE_COLUMNS if c.best}
    out = []
    for i, (_, row) in enumerate(rows.iterrows()):
        cells = [esc(row["strategy"]), "-" if row["strategy"] == FULL_LABEL else fmt_ratio(row["ratio"]),
                 esc(_n_text(row))]
        for col in TABLE_COLUMNS:
            text = _cell(row, col, pm)
            if text and col.best and best[col.quantity][i]:
                text = bold(text)
            if text and col.quantity == DAGGER_QUANTITY and row["reference"] == "mean":
                text += dagger
            cells.append(text)
        out.append(cells)
    return out


def _table_notes(rows: pd.DataFrame, dagger: str) -> List[str]:
    notes = []
    if (rows["reference"] == "none").all():
        notes.append(NOTE_NO_FULL)
    elif (rows["reference"] == "mean").any():
        notes.append(NOTE_FALLBACK.format(dagger=dagger))
    return notes


def _title(key: tuple) -> str:
    dataset, model, profile = key
    return f"{dataset} · {model} (profile {profile})"


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in str(text).lower()).strip("-") or "x"


def table_label(key: tuple) -> str:
    return "tab:" + "-".join(_slug(k) for k in key)


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
        header = ["Strategy", "Ratio", "n"] + [c.md for c in TABLE_COLUMNS]
        align = ["---", "---:", "---:"] + ["---:"] * len(TABLE_COLUMNS)
        body = _table_cells(rows, PM_MD, lambda t: f"**{t}**", DAGGER_MD, escape_md)
        lines += [f"## {_title(key)}", ""] + _md_table(header, align, body) + [""]
        lines += [f"- {n}" for n in _table_notes(rows, DAGGER_MD)]
        if _table_notes(rows, DAGGER_MD):
            lines.append("")
    lines += render_failed_md(data)
    return "\n".join(lines).rstrip("\n") + "\n"


# ----------------------------------------------------------------------------- LaTeX
def _tex_groups(first_col: int) -> Tuple[str, str]:
    """The super-header row (one \\multicolumn per named group) and its \\cmidrule line."""
    cells, rules, col = [""] * (first_col - 1), [], first_col
    for group, members in itertools.groupby(TABLE_COLUMNS, key=lambda c: c.group):
        width = len(list(members))
        if group:
            cells.append(rf"\multicolumn{{{width}}}{{c}}{{{group}}}")
            rules.append(rf"\cmidrule(lr){{{col}-{col + width - 1}}}")
        else:
            cells += [""] * width
        col += width
    return " & ".join(cells) + r" \\", "".join(rules)


def render_tables_tex(data: ReportData) -> str:
    out = [
        "% Generated by stbench (benchmarks/report_tables.py). Needs \\usepackage{booktabs,graphicx}.",
        "% " + " ".join(HEADER_LINES).replace("±", "+-"),
        "",
    ]
    if not data.table_keys():
        out.append("% No finished runs.")
    spec = "llr" + "r" * len(TABLE_COLUMNS)
    for key in data.table_keys():
        rows = data.select(data.summary, key)
        body = _table_cells(rows, PM_TEX, lambda t: rf"\textbf{{{t}}}", DAGGER_TEX, escape_tex)
        dataset, model, profile = (escape_tex(k) for k in key)
        caption = (f"{dataset}, {model} (profile {profile}): test error as mean $\\pm$ std over seeds "
                   f"(ddof = 1), MAPE in \\%; avg is pooled over the 12 forecast steps. Speedups "
                   f"against the full-data run with the same seed (Wall = train-loop wall-clock, "
                   f"primary; Pass = sample passes = ideal; Step = optimizer steps); "
                   f"Eff.\\ = Wall / ideal; $\\Delta$MAE negative = better. Best error in bold.")
        groups, rules = _tex_groups(first_col=4)
        header = " & ".join(["Strategy", "Ratio", "$n$"] + [c.tex for c in TABLE_COLUMNS]) + r" \\"
        out += [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{caption}}}",
                rf"\label{{{table_label(key)}}}", r"\resizebox{\textwidth}{!}{%",
                rf"\begin{{tabular}}{{{spec}}}", r"\toprule", groups, rules, header, r"\midrule"]
        for i, cells in enumerate(body):
            out.append(" & ".join(cells) + r" \\")
            if rows.iloc[i]["strategy"] == FULL_LABEL and i + 1 < len(body) \
                    and rows.iloc[i + 1]["strategy"] != FULL_LABEL:
                out.append(r"\midrule")
        out += [r"\bottomrule", r"\end{tabular}}"]
        notes = _table_notes(rows, DAGGER_TEX)
        if notes:
            out.append(r"\par\smallskip{\footnotesize " + " ".join(escape_tex_note(n) for n in notes) + "}")
        out += [r"\end{table}", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def escape_tex_note(note: str) -> str:
    """Escape a note but keep the LaTeX dagger macro it may contain."""
    head, sep, tail = note.partition(DAGGER_TEX)
    return escape_tex(head) + sep + escape_tex(tail) if sep else escape_tex(note)


# ----------------------------------------------------------------------------- summary
def render_summary_csv(data: ReportData) -> str:
    """The aggregated frame (one row per group), floats as %.10g, NaN as ''."""
    return data.summary.to_csv(index=False, float_format="%.10g", na_rep="", lineterminator="\n")


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
    """Per table key: (key, [((strategy, ratio), finished runs)]), both in report order
    (data.finished is already sorted by strategy order, ratio and seed)."""
    for key in data.table_keys():
        yield key, list(data.select(data.finished, key).groupby(["strategy", "ratio"], sort=False))


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
        for (strategy, ratio), grp in groups:
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
            flat = "yes" if np.all(g < CONVERGENCE_TOL_PCT) else "no"
            body.append([escape_md(strategy), "-" if strategy == FULL_LABEL else fmt_ratio(ratio), str(len(g)),
                         ", ".join(str(e) for e in sorted(set(epochs))),
                         f"{np.mean(bests):.1f}", _fmt_mean_std(g, signed=True), f"{np.max(g):+.2f}", flat,
                         _fmt_mean_std(t, signed=True)])
        if body:
            lines += [f"## {_title(key)}", ""]
            lines += _md_table(["Strategy", "Ratio", "n", "Epochs", "Best epoch", "Tail gain (%)",
                                "Max (%)", "Flat", "Tail trend (%)"],
                               ["---", "---:", "---:", "---:", "---:", "---:", "---:", "---", "---:"], body) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


# ----------------------------------------------------------------------------- efficiency within a run
#: an epoch counts as full data when its kept fraction is at least this
FULL_EPOCH_KEPT = 1.0 - 1e-9


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


def render_efficiency_md(data: ReportData) -> str:
    """Per (data set, model, profile) and strategy: efficiency across runs and within a run."""
    lines = ["# Pruning efficiency", "",
             "Eff. = Wall × / Pass ×, the train-loop speedup over the ideal one, with the full-data run "
             "of the same seed as reference (as in tables.md); runs made at different times share any "
             "drift in machine speed. In-run eff. = the run's own ms per sample pass in its full-data "
             "epochs (kept fraction 1: warm-up, annealing) over that in its pruned epochs, so drift "
             "between runs cancels; '-' where a run has no epoch of one kind. Means ± std over seeds.",
             ""]
    if data.finished.empty:
        return "\n".join(lines + ["No finished runs."]) + "\n"
    for key, groups in _strategy_groups(data):
        body = []
        for (strategy, ratio), grp in groups:
            if strategy == FULL_LABEL:
                continue
            per_run = np.array([inrun_efficiency(data.curve(rid)) for rid in grp["run_id"]], dtype=float)
            body.append([escape_md(strategy), fmt_ratio(ratio), str(len(grp))] +
                        [_fmt_mean_std(grp[q].to_numpy(dtype=float))
                         for q in ("pass_speedup", "wall_speedup", "efficiency")] +
                        [_fmt_mean_std(per_run[:, j]) for j in range(3)])
        if body:
            lines += [f"## {_title(key)}", ""]
            lines += _md_table(["Strategy", "Ratio", "n", "Pass ×", "Wall ×", "Eff.", "ms/pass full epochs",
                                "ms/pass pruned epochs", "In-run eff."],
                               ["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"], body) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


# ----------------------------------------------------------------------------- index
def _values(series: pd.Series, fmt: Callable = str) -> str:
    return ", ".join(fmt(v) for v in sorted(set(series))) if len(series) else "(none)"


def render_index_md(data: ReportData, written: Sequence[str],
                    skipped: Optional[Sequence[Tuple[str, str, str]]],
                    extra_notes: Sequence[str] = ()) -> str:
    """``written``: relative file names; ``skipped``: (figure, panel, reason), or None
    when no figures were requested."""
    runs, n_fin, n_fail = data.runs, len(data.finished), len(data.failed)
    lines = ["# Benchmark report", "",
             f"Source: results.csv, {len(runs)} run(s): {n_fin} finished (used), {n_fail} failed.", ""]
    grid = [("data sets", _values(runs["dataset"])), ("models", _values(runs["model"])),
            ("strategies", ", ".join(data.strategies) or "(none)"),
            ("prune ratios", _values(runs["ratio"], fmt_ratio)), ("seeds", _values(runs["seed"])),
            ("profiles", _values(runs["profile"]))]
    lines += ["## Grid", ""] + _md_table(["axis", "values"], ["---", "---"],
                                         [[a, escape_md(v)] for a, v in grid]) + [""]
    descriptions: Dict[str, str] = {
        "tables.md": "per data set and model: errors at horizons 3/6/12 and pooled average, "
                     "train time, speedups, efficiency, dMAE",
        "tables.tex": "the same tables in LaTeX (booktabs, graphicx)",
        "summary.csv": "one row per (data set, model, profile, strategy, ratio): means and stds",
        "summary.md": "compact summary table",
        "convergence.md": "per strategy: best epoch and the validation-MAE gain over the last 20 % of "
                          "the epochs (is the run converged?)",
        "efficiency.md": "per strategy: pruning efficiency across runs and within a run (drift-free)",
        "index.md": "this file",
    }
    lines += ["## Files", ""]
    for name in sorted(set(written) | {"index.md"}):
        desc = descriptions.get(name, "")
        lines.append(f"- `{name}`" + (f": {desc}" if desc else ""))
    lines.append("")
    lines += ["## Figures skipped", ""]
    if skipped is None:
        lines.append("Figures were not requested.")
    else:
        lines += [f"- {fig} for {escape_md(panel)}: {reason}" for fig, panel, reason in skipped] or ["None."]
    lines.append("")
    lines += render_failed_md(data)
    notes = list(data.notes) + list(extra_notes)
    if notes:
        lines += ["## Notes", ""] + [f"- {escape_md(n)}" for n in notes] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"
