"""Figures of a report, one file pair (PNG at 150 dpi and PDF) per figure and panel.

A panel is one (data set, model, profile). Figures are registered by name::

    @register_figure("pareto")
    def pareto(data: ReportData, key: tuple) -> Figure: ...   # raise SkipFigure(reason) to skip

Registered figures: ``pareto`` (test MAE vs wall-clock speedup with the Pareto front),
``val_curve`` (validation MAE vs wall-clock since training start), ``mae_vs_ratio`` (test MAE
vs prune ratio, full data as a band) and ``kept_fraction`` (kept fraction per epoch).
Each strategy label has one colour in every figure (``strategy_colour``); the prune
ratio sets the marker and line style. Uses matplotlib's object API (Agg canvas, no pyplot).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import style as mpl_style
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from benchmarks.registry import Registry
from benchmarks.report import FULL_LABEL, ReportData

FIGURES: Registry = Registry("report figure")
register_figure = FIGURES.register

#: fixed colours of the known strategies (tab10 hues; full data in black)
STRATEGY_COLOURS: Dict[str, str] = {
    "full": "#000000", "random": "#1f77b4", "static": "#2ca02c",
    "infobatch": "#ff7f0e", "stprune": "#d62728",
}
#: colours for any other label, chosen by a hash of the label
EXTRA_COLOURS = ("#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#7f7f7f",
                 "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#5254a3",
                 "#b5cf6b", "#ce6dbd", "#e7ba52")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">")
LINESTYLES = ("-", "--", ":", "-.")
RC = {"font.size": 9, "axes.grid": True, "grid.alpha": 0.3, "legend.fontsize": 7,
      "legend.frameon": False, "pdf.fonttype": 42}
FIGSIZE = (5.0, 3.6)
DPI = 150


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


def _series_label(strategy: str, ratio: float) -> str:
    return strategy if strategy == FULL_LABEL else f"{strategy} {ratio:g}"


def panel_name(key: tuple) -> str:
    return " / ".join(str(k) for k in key)


def _slug(key: tuple) -> str:
    return "_".join("".join(ch if ch.isalnum() else "-" for ch in str(k).lower()) for k in key)


def _new_axes(key: tuple) -> Tuple[Figure, Axes]:
    fig = Figure(figsize=FIGSIZE, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(f"{key[0]} · {key[1]} ({key[2]})")
    return fig, ax


def _finite(v) -> float:
    return float(v) if np.isfinite(v) else 0.0


def _mean_curve(data: ReportData, key: tuple, strategy: str, ratio: float,
                columns: Sequence[str]) -> Optional[pd.DataFrame]:
    """Mean over seeds of ``columns`` per epoch, on the epochs every seed's curve has."""
    runs = data.select(data.finished, key)
    runs = runs[(runs["strategy"] == strategy) & (runs["ratio"] == ratio)]
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
    """Test MAE (pooled avg, mean +- std) against wall-clock speedup (mean +- std)."""
    rows = data.select(data.summary, key)
    if (rows["reference"] == "none").all():
        raise SkipFigure("no full-data run, so no speedups")
    rows = rows[np.isfinite(rows["wall_speedup_mean"]) & np.isfinite(rows["mae_mean"])]
    if len(rows) < 2:
        raise SkipFigure("fewer than two (strategy, ratio) points with a speedup and an MAE")
    styles = _ratio_styles(rows["ratio"])
    fig, ax = _new_axes(key)
    seen = set()
    for _, r in rows.iterrows():
        s = r["strategy"]
        ax.errorbar(r["wall_speedup_mean"], r["mae_mean"], xerr=_finite(r["wall_speedup_std"]),
                    yerr=_finite(r["mae_std"]), color=strategy_colour(s), marker=styles[float(r["ratio"])][0],
                    markersize=9 if s == FULL_LABEL else 6, capsize=2, linestyle="none",
                    label=None if s in seen else s, zorder=3)
        seen.add(s)
        if s != FULL_LABEL:
            ax.annotate(f"{r['ratio']:g}", (r["wall_speedup_mean"], r["mae_mean"]),
                        textcoords="offset points", xytext=(4, 4), fontsize=6)
    xs, ys = rows["wall_speedup_mean"].to_list(), rows["mae_mean"].to_list()
    front = pareto_front(xs, ys)
    ax.plot([xs[i] for i in front], [ys[i] for i in front], color="#555555", linestyle="--",
            linewidth=1, label="Pareto front", zorder=2)
    ax.axvline(1.0, color="#999999", linewidth=0.8, linestyle=":")
    ax.set_xlabel("wall-clock speedup of the train loop (×)")
    ax.set_ylabel("test MAE (pooled over 12 steps)")
    ax.legend(loc="best")
    return fig


@register_figure("val_curve")
def val_curve(data: ReportData, key: tuple) -> Figure:
    """Validation MAE against curve.csv wall_seconds (cumulative since training start), mean over seeds."""
    rows = data.select(data.summary, key)
    styles = _ratio_styles(rows["ratio"])
    fig, ax = _new_axes(key)
    drawn = 0
    for _, r in rows.iterrows():
        c = _mean_curve(data, key, r["strategy"], r["ratio"], ("wall_seconds", "val_mae"))
        if c is None or c.empty:
            continue
        ax.plot(c["wall_seconds"], c["val_mae"], color=strategy_colour(r["strategy"]),
                linestyle=styles[float(r["ratio"])][1], marker=styles[float(r["ratio"])][0],
                markersize=3, linewidth=1.2, label=_series_label(r["strategy"], r["ratio"]))
        drawn += 1
    if not drawn:
        raise SkipFigure("no curve.csv with wall_seconds and val_mae")
    ax.set_xlabel("wall-clock since the start of training (s)")
    ax.set_ylabel("validation MAE")
    ax.legend(loc="best", ncol=2)
    return fig


@register_figure("mae_vs_ratio")
def mae_vs_ratio(data: ReportData, key: tuple) -> Figure:
    """Test MAE (mean +- std over seeds) against prune ratio; full data as a band."""
    rows = data.select(data.summary, key)
    pruned = rows[rows["strategy"] != FULL_LABEL]
    if pruned["ratio"].nunique() < 2:
        raise SkipFigure("fewer than two prune ratios")
    fig, ax = _new_axes(key)
    full = rows[rows["strategy"] == FULL_LABEL]
    if len(full):
        m, sd = float(full["mae_mean"].iloc[0]), _finite(full["mae_std"].iloc[0])
        ax.axhline(m, color=strategy_colour(FULL_LABEL), linewidth=1, label="full (mean ± std)")
        if sd > 0:
            ax.axhspan(m - sd, m + sd, color=strategy_colour(FULL_LABEL), alpha=0.12, linewidth=0)
    for i, (strategy, g) in enumerate(pruned.groupby("strategy", sort=False)):
        ax.errorbar(g["ratio"], g["mae_mean"], yerr=g["mae_std"].fillna(0.0),
                    color=strategy_colour(strategy), marker=MARKERS[i % len(MARKERS)],
                    markersize=5, capsize=3, linewidth=1.2, label=strategy)
    ax.set_xticks(sorted(pruned["ratio"].unique()))
    ax.set_xlabel("prune ratio")
    ax.set_ylabel("test MAE (pooled over 12 steps)")
    ax.legend(loc="best")
    return fig


@register_figure("kept_fraction")
def kept_fraction(data: ReportData, key: tuple) -> Figure:
    """Fraction of training windows forwarded per epoch, mean over seeds."""
    rows = data.select(data.summary, key)
    styles = _ratio_styles(rows["ratio"])
    fig, ax = _new_axes(key)
    drawn = 0
    for _, r in rows.iterrows():
        c = _mean_curve(data, key, r["strategy"], r["ratio"], ("kept_fraction",))
        if c is None or c.empty:
            continue
        ax.plot(c["epoch"], c["kept_fraction"], color=strategy_colour(r["strategy"]),
                linestyle=styles[float(r["ratio"])][1], marker=styles[float(r["ratio"])][0],
                markersize=3, linewidth=1.2, label=_series_label(r["strategy"], r["ratio"]))
        drawn += 1
    if not drawn:
        raise SkipFigure("no curve.csv with kept_fraction")
    ax.set_xlabel("epoch")
    ax.set_ylabel("kept fraction of training windows")
    ax.set_ylim(0.0, 1.05)
    ax.legend(loc="best", ncol=2)
    return fig


# ----------------------------------------------------------------------------- writing
def save_figure(fig: Figure, stem: Path) -> List[Path]:
    """Write ``stem.png`` (150 dpi) and ``stem.pdf`` without timestamps."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
    fig.savefig(png, dpi=DPI, metadata={"Software": None})
    fig.savefig(pdf, metadata={"CreationDate": None, "ModDate": None})
    return [png, pdf]


def write_figures(data: ReportData, fig_dir: Path,
                  names: Optional[Sequence[str]] = None) -> FigureResult:
    """Every registered figure (or ``names``) for every panel; skipped ones with their reason."""
    result = FigureResult()
    with mpl_style.context("default"), matplotlib.rc_context(RC):
        for name in (names or FIGURES.names()):
            draw: Callable[[ReportData, tuple], Figure] = FIGURES.get(name)
            for key in data.table_keys():
                try:
                    fig = draw(data, key)
                except SkipFigure as why:
                    result.skipped.append((name, panel_name(key), str(why)))
                    continue
                result.paths += save_figure(fig, Path(fig_dir) / f"{name}_{_slug(key)}")
    missing = [rid for rid in data.finished["run_id"] if data.curve(rid) is None]
    if missing:
        result.notes.append(f"{len(missing)} finished run(s) have no readable runs/RUN_ID/curve.csv: "
                            + ", ".join(missing))
    return result
