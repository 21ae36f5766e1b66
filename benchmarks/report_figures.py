"""Figures of a report, one file pair (PNG at 200 dpi and PDF) per figure and panel.

A panel is one table of the report (a workload: data set, model, profile[, optimizer,
workload]). Figures are registered by name::

    @register_figure("pareto")
    def pareto(data: ReportData, key: tuple) -> Figure: ...   # raise SkipFigure(reason) to skip

    @register_global_figure("performance_profile")
    def profile(data: ReportData) -> Figure: ...              # one figure for the directory

A panel figure may carry ``skip_all(data) -> reason or None``: when it gives a reason the
figure is skipped once for the directory instead of once per panel.

Per panel: ``pareto`` (test MAE vs wall-clock speedup on a log axis, with the Pareto
front), ``val_curve`` (validation MAE vs wall-clock, one facet per strategy with full data
in each), ``mae_vs_ratio`` (test MAE vs prune ratio, full data as a band) and
``kept_fraction`` (kept fraction per epoch, one facet per strategy); the budget figures
``budget_accuracy`` and ``tta`` and the global ``performance_profile`` live in
benchmarks/report_budget_figures.py. Figures are sized for one column (3.5 in wide).
Each strategy label has one colour in every figure (``strategy_colour``). Uses
matplotlib's object API (Agg canvas, no pyplot).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib import style as mpl_style
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

from stbench.registry import Registry
from stbench.benchmarks.report import FULL_LABEL, ReportData

FIGURES: Registry = Registry("report figure")
register_figure = FIGURES.register
GLOBAL_FIGURES: Registry = Registry("report summary figure")
register_global_figure = GLOBAL_FIGURES.register
GLOBAL_PANEL = "all workloads"

#: fixed colours of the known strategies (tab10 hues; full data in black)
STRATEGY_COLOURS: Dict[str, str] = {
    "full": "#000000", "random": "#1f77b4", "rs2": "#17becf", "static": "#2ca02c",
    "infobatch": "#ff7f0e", "stprune": "#d62728",
}
#: colours for any other label, chosen by a hash of the label
EXTRA_COLOURS = ("#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f",
                 "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#5254a3",
                 "#b5cf6b", "#ce6dbd", "#e7ba52")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")
LINESTYLES = ("-", "--", ":", "-.")
RC = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
      "axes.grid": True, "grid.alpha": 0.3, "legend.fontsize": 6.5, "legend.frameon": False,
      "legend.handlelength": 1.8, "legend.columnspacing": 1.0, "lines.linewidth": 1.1, "pdf.fonttype": 42}
#: one column of a two-column paper
WIDTH = 3.5
FIGSIZE = (WIDTH, 2.6)
DPI = 200
#: speedup ticks of log axes
SPEEDUP_TICKS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 15.0, 20.0)
FULL_GREY = "#555555"


class SkipFigure(Exception):
    """Raised by a figure function when the data do not support the figure."""


@dataclass
class FigureResult:
    paths: List[Path] = field(default_factory=list)
    skipped: List[Tuple[str, str, str]] = field(default_factory=list)  # (figure, panel, reason)
    notes: List[str] = field(default_factory=list)


def strategy_colour(label: str) -> str:
    """Fixed colour of a known strategy; otherwise a colour picked by sha256(label)."""
    if label in STRATEGY_COLOURS:
        return STRATEGY_COLOURS[label]
    digest = int(hashlib.sha256(label.encode("utf-8")).hexdigest(), 16)
    return EXTRA_COLOURS[digest % len(EXTRA_COLOURS)]


def _ratio_styles(ratios: Sequence[float]) -> Dict[float, Tuple[str, str]]:
    """ratio -> (marker, line style), by rank among the panel's non-zero ratios."""
    ordered = sorted({float(r) for r in ratios if r > 0})
    styles = {r: (MARKERS[i % len(MARKERS)], LINESTYLES[i % len(LINESTYLES)]) for i, r in enumerate(ordered)}
    styles[0.0] = ("*", "-")
    return styles


def setting_tag(ratio: float, budget: float = float("nan")) -> str:
    """``b=0.5`` for a budget run, ``r=0.3`` for a ratio run."""
    return f"b={budget:.3g}" if budget is not None and math.isfinite(budget) else f"r={ratio:g}"


def _series_label(strategy: str, ratio: float, budget: float = float("nan")) -> str:
    if strategy == FULL_LABEL and not (budget is not None and math.isfinite(budget)):
        return strategy
    return f"{strategy} {setting_tag(ratio, budget)}"


def panel_name(key: tuple) -> str:
    return " / ".join(str(k) for k in key if str(k))


def _new_axes(data: ReportData, key: tuple, height: float = FIGSIZE[1]) -> Tuple[Figure, Axes]:
    fig = Figure(figsize=(WIDTH, height), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(data.short_title(key), wrap=True)  # wraps within the figure when the axes sit right of long labels
    return fig, ax


def _finite(v) -> float:
    return float(v) if np.isfinite(v) else 0.0


def log_speedup_axis(ax: Axes, lo: float, hi: float, axis: str = "x") -> None:
    """Log axis over [lo, hi] with ticks 1x 1.5x 2x 3x 4x 6x ... inside it, labelled '2×'."""
    lo, hi = max(min(lo, 1.0), 1e-3), max(hi, 1.0)
    pad = (hi / lo) ** 0.06
    ticks = [t for t in SPEEDUP_TICKS if lo / pad <= t <= hi * pad] or [1.0]
    if lo < 1.0:
        ticks = sorted(set(ticks) | {t for t in (0.25, 0.5, 0.75) if t >= lo / pad})
    axis_obj = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    (ax.set_xlim if axis == "x" else ax.set_ylim)(lo / pad, hi * pad)
    axis_obj.set_major_locator(FixedLocator(ticks))
    axis_obj.set_minor_locator(NullLocator())
    axis_obj.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))


def legend_below(fig: Figure, ax: Axes, handles=None, labels=None, ncol: int = 3, title: Optional[str] = None):
    """A legend under the axes (outside the data), in ``ncol`` columns."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    return fig.legend(handles, labels, loc="outside lower center", ncol=ncol, title=title,
                      title_fontsize=6.5)


def _legend_rows(n: int, ncol: int) -> int:
    return max(1, math.ceil(n / ncol))


def _mean_curve(data: ReportData, key: tuple, strategy: str, ratio: float,
                columns: Sequence[str], budget: float = float("nan")) -> Optional[pd.DataFrame]:
    """Mean over seeds of ``columns`` per epoch, on the epochs every seed's curve has."""
    runs = data.select(data.finished, key)
    same_budget = (runs["budget"].isna() if not math.isfinite(budget) else runs["budget"] == budget)
    runs = runs[(runs["strategy"] == strategy) & (runs["ratio"] == ratio) & same_budget]
    curves = []
    for rid in runs["run_id"]:
        c = data.curve(rid)
        if c is not None and all(col in c.columns for col in columns):
            curves.append(c[["epoch"] + list(columns)].dropna())
    if not curves:
        return None
    common = set(curves[0]["epoch"])
    for c in curves[1:]:
        common &= set(c["epoch"])
    if not common:
        return None
    stacked = pd.concat([c[c["epoch"].isin(common)] for c in curves])
    return stacked.groupby("epoch", sort=True)[list(columns)].mean().reset_index()


def _budget_of(row: pd.Series) -> float:
    b = row["budget"] if "budget" in row.index else float("nan")
    return float(b) if b is not None and math.isfinite(b) else float("nan")


# ----------------------------------------------------------------------------- figures
def pareto_front(xs: Sequence[float], ys: Sequence[float]) -> List[int]:
    """Indices of the points no other point beats in both higher x and lower y,
    ordered by increasing x."""
    order = sorted(range(len(xs)), key=lambda i: (-xs[i], ys[i]))
    front, best = [], np.inf
    for i in order:
        if ys[i] < best:
            front.append(i)
            best = ys[i]
    return sorted(front, key=lambda i: (xs[i], ys[i]))


@register_figure("pareto")
def pareto(data: ReportData, key: tuple) -> Figure:
    """Test MAE (pooled avg, mean +- std) against wall-clock speedup (mean +- std, log axis).
    Colour = strategy, marker = prune ratio (or budget); legends under the axes."""
    rows = data.select(data.summary, key)
    if (rows["reference"] == "none").all():
        raise SkipFigure("no full-data run, so no speedups")
    rows = rows[np.isfinite(rows["wall_speedup_mean"]) & np.isfinite(rows["mae_mean"])]
    if len(rows) < 2:
        raise SkipFigure("fewer than two (strategy, ratio) points with a speedup and an MAE")
    tags = [setting_tag(r["ratio"], _budget_of(r)) for _, r in rows.iterrows()]
    tag_order = sorted({t for t, (_, r) in zip(tags, rows.iterrows()) if r["strategy"] != FULL_LABEL
                        or math.isfinite(_budget_of(r))})
    marker = {t: MARKERS[i % len(MARKERS)] for i, t in enumerate(tag_order)}
    strategies = list(dict.fromkeys(rows["strategy"]))
    ncol = 2
    height = 2.5 + 0.13 * (_legend_rows(len(strategies) + 1, ncol) + _legend_rows(len(tag_order), 4))
    fig, ax = _new_axes(data, key, height)
    for (_, r), tag in zip(rows.iterrows(), tags):
        s = r["strategy"]
        is_ref = s == FULL_LABEL and not math.isfinite(_budget_of(r))
        x, y = r["wall_speedup_mean"], r["mae_mean"]
        sx, sy = _finite(r["wall_speedup_std"]), _finite(r["mae_std"])
        ax.errorbar(x, y, xerr=[[min(sx, x * 0.5)], [sx]], yerr=sy, color=strategy_colour(s),
                    marker="*" if is_ref else marker[tag], markersize=9 if is_ref else 5, capsize=1.5,
                    elinewidth=0.8, linestyle="none", alpha=0.9, zorder=3)
    xs, ys = rows["wall_speedup_mean"].to_list(), rows["mae_mean"].to_list()
    front = pareto_front(xs, ys)
    ax.plot([xs[i] for i in front], [ys[i] for i in front], color="#777777", linestyle="--",
            linewidth=0.9, zorder=2)
    log_speedup_axis(ax, min(xs), max(xs))
    ax.set_xlabel("wall-clock speedup of the train loop (log)")
    ax.set_ylabel("test MAE (pooled, 12 steps)")
    s_handles = [Line2D([], [], color=strategy_colour(s), marker="*" if s == FULL_LABEL else "o",
                        linestyle="none", markersize=6 if s == FULL_LABEL else 4)
                 for s in strategies] + [Line2D([], [], color="#777777", linestyle="--")]
    s_labels = strategies + ["Pareto front"]
    m_handles = [Line2D([], [], color="#444444", marker=marker[t], linestyle="none", markersize=4)
                 for t in tag_order]
    fig.legend(s_handles + m_handles, s_labels + tag_order, loc="outside lower center", ncol=3)
    return fig


def _facets(data: ReportData, key: tuple, columns: Sequence[str], with_full: bool):
    """Per non-full strategy label (report order): [(tag, curve)] of its settings' seed-mean
    curves, and the full run's curve (or None). Raises SkipFigure when nothing is drawable."""
    rows = data.select(data.summary, key)
    full = None
    if with_full:
        ref = rows[(rows["strategy"] == FULL_LABEL) & rows["budget"].isna()] if "budget" in rows.columns \
            else rows[rows["strategy"] == FULL_LABEL]
        if len(ref):
            full = _mean_curve(data, key, FULL_LABEL, float(ref["ratio"].iloc[0]), columns)
    facets: Dict[str, List[Tuple[str, pd.DataFrame]]] = {}
    for _, r in rows.iterrows():
        budget = _budget_of(r)
        if r["strategy"] == FULL_LABEL and not math.isfinite(budget):
            continue
        c = _mean_curve(data, key, r["strategy"], r["ratio"], columns, budget)
        if c is None or c.empty:
            continue
        facets.setdefault(r["strategy"], []).append((setting_tag(r["ratio"], budget), c))
    return facets, full


def _tag_colours(tags: Sequence[str]) -> Dict[str, str]:
    """One colour per setting tag (ratio or budget), ordered, from a sequential map."""
    ordered = sorted(set(tags), key=lambda t: (t[0], float(t[2:])))
    cmap = colormaps["viridis"]
    n = len(ordered)
    return {t: matplotlib.colors.to_hex(cmap(0.05 + 0.8 * (i / max(1, n - 1)))) for i, t in enumerate(ordered)}


def _facet_figure(data: ReportData, key: tuple, facets, full, x: str, y: str, xlabel: str, ylabel: str,
                  ylim: Optional[Tuple[float, float]] = None) -> Figure:
    names = list(facets)
    ncols = 1 if len(names) == 1 else 2
    nrows = math.ceil(len(names) / ncols)
    tags = [t for v in facets.values() for t, _ in v]
    colours = _tag_colours(tags)
    legend_rows = _legend_rows(len(colours) + (full is not None), 5)
    fig = Figure(figsize=(WIDTH, 0.55 + 1.25 * nrows + 0.13 * legend_rows), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)
    for i, name in enumerate(names):
        ax = axes[i // ncols][i % ncols]
        if full is not None:
            ax.plot(full[x], full[y], color=FULL_GREY, linewidth=1.0, zorder=2)
        for tag, c in facets[name]:
            ax.plot(c[x], c[y], color=colours[tag], linewidth=1.0, marker="o", markersize=1.8, zorder=3)
        ax.set_title(name, fontsize=7, pad=2, color=strategy_colour(name))
        ax.tick_params(labelsize=6.5)
    for j in range(len(names), nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    if ylim is not None:
        axes[0][0].set_ylim(*ylim)
    for ax in axes[-1]:
        ax.set_xlabel(xlabel, fontsize=7)
    if x == "epoch":
        axes[0][0].xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.supylabel(ylabel, fontsize=7.5)
    fig.suptitle(data.short_title(key), fontsize=8)
    handles = ([Line2D([], [], color=FULL_GREY)] if full is not None else []) + \
        [Line2D([], [], color=c, marker="o", markersize=2) for c in colours.values()]
    labels = (["full"] if full is not None else []) + list(colours)
    fig.legend(handles, labels, loc="outside lower center", ncol=5)
    return fig


def _zoom(curves: Sequence[pd.DataFrame], y: str) -> Optional[Tuple[float, float]]:
    """y range that leaves out the first-epoch transient: from the lowest value to the
    median of the curves' second-epoch values or the highest final value, whichever is
    higher (the first epochs leave the top; every curve's end stays in view)."""
    lows = [float(c[y].min()) for c in curves if len(c)]
    seconds = [float(c[y].iloc[min(1, len(c) - 1)]) for c in curves if len(c)]
    finals = [float(c[y].iloc[-1]) for c in curves if len(c)]
    if not lows:
        return None
    lo, hi = min(lows), max(float(np.median(seconds)), max(finals))
    if not hi > lo:
        return None
    pad = 0.04 * (hi - lo)
    return lo - pad, hi + pad


@register_figure("val_curve")
def val_curve(data: ReportData, key: tuple) -> Figure:
    """Validation MAE against curve.csv wall_seconds (cumulative since training start), mean
    over seeds: one facet per strategy (a line per ratio or budget), full data in each."""
    facets, full = _facets(data, key, ("wall_seconds", "val_mae"), with_full=True)
    if not facets:
        if full is None:
            raise SkipFigure("no curve.csv with wall_seconds and val_mae")
        facets = {FULL_LABEL: []}
    curves = [c for v in facets.values() for _, c in v] + ([full] if full is not None else [])
    return _facet_figure(data, key, facets, full, "wall_seconds", "val_mae",
                         "wall-clock since start (s)", "validation MAE", _zoom(curves, "val_mae"))


@register_figure("mae_vs_ratio")
def mae_vs_ratio(data: ReportData, key: tuple) -> Figure:
    """Test MAE (mean +- std over seeds) against prune ratio; full data as a band. Ratio runs
    only (budget runs are in budget_accuracy); strategies slightly offset to keep error bars apart."""
    rows = data.select(data.summary, key)
    if "budget" in rows.columns:
        rows = rows[rows["budget"].isna()]
    pruned = rows[rows["strategy"] != FULL_LABEL]
    if pruned["ratio"].nunique() < 2:
        raise SkipFigure("fewer than two prune ratios")
    strategies = list(dict.fromkeys(pruned["strategy"]))
    height = 2.5 + 0.13 * _legend_rows(len(strategies) + 1, 2)
    fig, ax = _new_axes(data, key, height)
    full = rows[rows["strategy"] == FULL_LABEL]
    if len(full):
        m, sd = float(full["mae_mean"].iloc[0]), _finite(full["mae_std"].iloc[0])
        ax.axhline(m, color=strategy_colour(FULL_LABEL), linewidth=1, label="full (mean ± std)")
        if sd > 0:
            ax.axhspan(m - sd, m + sd, color=strategy_colour(FULL_LABEL), alpha=0.12, linewidth=0)
    ratios = sorted(pruned["ratio"].unique())
    step = min(np.diff(ratios)) if len(ratios) > 1 else 0.1
    width = 0.5 * step
    for i, (strategy, g) in enumerate(pruned.groupby("strategy", sort=False)):
        off = (i - (len(strategies) - 1) / 2) * (width / max(1, len(strategies) - 1)) if len(strategies) > 1 else 0.0
        ax.errorbar(g["ratio"] + off, g["mae_mean"], yerr=g["mae_std"].fillna(0.0),
                    color=strategy_colour(strategy), marker=MARKERS[i % len(MARKERS)],
                    markersize=4, capsize=1.5, elinewidth=0.8, linewidth=1.0, label=strategy)
    ax.set_xticks(ratios)
    ax.set_xlabel("prune ratio")
    ax.set_ylabel("test MAE (pooled, 12 steps)")
    legend_below(fig, ax, ncol=2)
    return fig


@register_figure("kept_fraction")
def kept_fraction(data: ReportData, key: tuple) -> Figure:
    """Fraction of training windows forwarded per epoch, mean over seeds: one facet per
    strategy, a line per ratio or budget (full data, always 1, is not drawn)."""
    facets, _ = _facets(data, key, ("kept_fraction",), with_full=False)
    if not facets:
        raise SkipFigure("no curve.csv with kept_fraction")
    fig = _facet_figure(data, key, facets, None, "epoch", "kept_fraction", "epoch",
                        "kept fraction of training windows", (0.0, 1.05))
    return fig


# ----------------------------------------------------------------------------- writing
def save_figure(fig: Figure, stem: Path) -> List[Path]:
    """Write ``stem.png`` (DPI) and ``stem.pdf`` without timestamps."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
    fig.savefig(png, dpi=DPI, metadata={"Software": None})
    fig.savefig(pdf, metadata={"CreationDate": None, "ModDate": None})
    return [png, pdf]


def write_figures(data: ReportData, fig_dir: Path,
                  names: Optional[Sequence[str]] = None) -> FigureResult:
    """Every registered figure (or ``names``) for every panel, then the global figures;
    skipped ones with their reason."""
    from stbench.benchmarks import report_budget_figures  # noqa: F401  (registers the budget figures)

    result = FigureResult()
    with mpl_style.context("default"), matplotlib.rc_context(RC):
        for name in (names or FIGURES.names()):
            if name not in FIGURES:
                continue
            draw: Callable[[ReportData, tuple], Figure] = FIGURES.get(name)
            # a figure may say once for the whole directory why it cannot be drawn
            reason = getattr(draw, "skip_all", None) and draw.skip_all(data)
            if reason:
                result.skipped.append((name, GLOBAL_PANEL, reason))
                continue
            for key in data.table_keys():
                try:
                    fig = draw(data, key)
                except SkipFigure as why:
                    result.skipped.append((name, panel_name(data.name_key(key)), str(why)))
                    continue
                result.paths += save_figure(fig, Path(fig_dir) / f"{name}_{data.slug(key)}")
        for name in (names or GLOBAL_FIGURES.names()):
            if name not in GLOBAL_FIGURES:
                continue
            try:
                fig = GLOBAL_FIGURES.get(name)(data)
            except SkipFigure as why:
                result.skipped.append((name, GLOBAL_PANEL, str(why)))
                continue
            result.paths += save_figure(fig, Path(fig_dir) / name)
    missing = [rid for rid in data.finished["run_id"] if data.curve(rid) is None]
    if missing:
        result.notes.append(f"{len(missing)} finished run(s) have no readable runs/RUN_ID/curve.csv: "
                            + ", ".join(missing))
    return result
