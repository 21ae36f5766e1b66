"""Figures of the equal-compute comparison (registered into benchmarks.report_figures).

``budget_accuracy_<panel>``
    Per workload with budget runs: dMAE (%) against full@1 over the speedup 1/b (log
    axis, ticks 1x 1.5x 2x 3x 4x 6x); one line per strategy with its 95 % interval as
    a band; the full-data control as a dashed black line with a grey band; native runs
    as open markers at the budget they reached; a run that missed its budget is drawn
    at the budget it reached (open marker) too.
``tta_<panel>``
    Per workload: TTA speedup in sample passes at eps = 1 % (full@1's TTA / the run's),
    one bar per setting with its 95 % interval; settings that did not reach the target
    in every seed have no bar and say how many seeds reached it.
``performance_profile``
    One figure for the results directory: rho_s(tau) over tau in [1, 4] for the best
    settings by score (all of them are in profile.md); shares over every workload of the
    profile (benchmarks/report_profile.py).
"""
from __future__ import annotations

import math
from typing import List

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from stbench.benchmarks.report import FULL_LABEL, ReportData
from stbench.benchmarks.report_budget import (
    PROFILE_EPS, TAU_MAX, budget_keys, budget_table, speedup_interval, tta_rows,
)
from stbench.benchmarks.report_profile import performance_profile
from stbench.benchmarks.report_figures import (
    LINESTYLES, MARKERS, WIDTH, SkipFigure, _legend_rows, _new_axes, log_speedup_axis,
    register_figure, register_global_figure, strategy_colour,
)

#: most settings drawn in the performance profile
PROFILE_MAX_LINES = 8
#: vertical offset between neighbouring profile lines (only in the figure)
PROFILE_DODGE = 0.008


@register_figure("budget_accuracy")
def budget_accuracy(data: ReportData, key: tuple) -> Figure:
    if key not in budget_keys(data):
        raise SkipFigure("no budget runs")
    t = budget_table(data, key)
    if not t.reference_seeds:
        raise SkipFigure("no full-data run at budget 1")
    strategies = [name for name, _ in t.rows if name != FULL_LABEL]
    n_legend = len(strategies) + 2 + len(t.native) + 1
    fig, ax = _new_axes(data, key, 2.5 + 0.13 * _legend_rows(n_legend, 2))
    xs_all: List[float] = [1.0]
    handles, labels = [], []
    ax.axhline(0.0, color="#999999", linewidth=0.8, zorder=1)
    # the full-data control: dashed line and band
    full_cells = dict(t.rows[0][1]) if t.rows and t.rows[0][0] == FULL_LABEL else {}
    ctrl = sorted(full_cells.items(), key=lambda bc: -bc[0])
    if len(ctrl) > 1:
        x = np.array([1.0 / b for b, _ in ctrl])
        y = np.array([0.0 if b == 1.0 else c.vs_ref.mean for b, c in ctrl])
        lo = np.array([0.0 if b == 1.0 else (c.vs_ref.lo if c.vs_ref.has_interval else c.vs_ref.mean)
                       for b, c in ctrl])
        hi = np.array([0.0 if b == 1.0 else (c.vs_ref.hi if c.vs_ref.has_interval else c.vs_ref.mean)
                       for b, c in ctrl])
        ax.fill_between(x, lo, hi, color="#000000", alpha=0.10, linewidth=0, zorder=1)
        ax.plot(x, y, color="#000000", linestyle="--", linewidth=1.1, marker="s", markersize=3, zorder=2)
        handles.append(Line2D([], [], color="#000000", linestyle="--", marker="s", markersize=3))
        labels.append("full, shortened (control)")
        xs_all += list(x)
    missed_any = False
    for i, (name, cells) in enumerate(t.rows):
        if name == FULL_LABEL:
            continue
        colour, marker = strategy_colour(name), MARKERS[i % len(MARKERS)]
        pts = []
        for b, c in sorted(cells.items(), key=lambda bc: -bc[0]):
            if not math.isfinite(c.vs_ref.mean):
                continue
            if c.missed and math.isfinite(c.reached) and c.reached > 0:
                missed_any = True
                ax.plot(1.0 / c.reached, c.vs_ref.mean, marker=marker, markersize=5, color=colour,
                        markerfacecolor="white", linestyle="none", zorder=4)
                xs_all.append(1.0 / c.reached)
                continue
            pts.append((1.0 / b, c))
        if not pts:
            continue
        x = np.array([p[0] for p in pts])
        y = np.array([p[1].vs_ref.mean for p in pts])
        lo = np.array([p[1].vs_ref.lo if p[1].vs_ref.has_interval else p[1].vs_ref.mean for p in pts])
        hi = np.array([p[1].vs_ref.hi if p[1].vs_ref.has_interval else p[1].vs_ref.mean for p in pts])
        ax.fill_between(x, lo, hi, color=colour, alpha=0.15, linewidth=0, zorder=2)
        ax.plot(x, y, color=colour, marker=marker, markersize=3.5, linewidth=1.1, zorder=3)
        handles.append(Line2D([], [], color=colour, marker=marker, markersize=3.5))
        labels.append(name)
        xs_all += list(x)
    for j, (s, c) in enumerate(t.native):
        if not (math.isfinite(c.vs_ref.mean) and c.reached > 0):
            continue
        x = 1.0 / c.reached
        err = None
        if c.vs_ref.has_interval:
            err = [[c.vs_ref.mean - c.vs_ref.lo], [c.vs_ref.hi - c.vs_ref.mean]]
        colour = strategy_colour(s.strategy)
        ax.errorbar(x, c.vs_ref.mean, yerr=err, color=colour, marker="D", markersize=4.5, markerfacecolor="white",
                    capsize=2, elinewidth=0.8, linestyle="none", zorder=4)
        handles.append(Line2D([], [], color=colour, marker="D", markerfacecolor="white", linestyle="none",
                              markersize=4.5))
        labels.append(f"{s.strategy} native r={s.ratio:g}")
        xs_all.append(x)
    if missed_any:
        handles.append(Line2D([], [], color="#444444", marker="o", markerfacecolor="white", linestyle="none",
                              markersize=4.5))
        labels.append("missed its budget (at the budget reached)")
    log_speedup_axis(ax, min(xs_all), max(xs_all))
    ax.set_xlabel("speedup 1/b (sample passes of full@1 / budget; log)")
    ax.set_ylabel("ΔMAE vs full@1 (%)")
    fig.legend(handles, labels, loc="outside lower center", ncol=2)
    return fig


def _no_budget_runs(data: ReportData):
    return None if budget_keys(data) else "no budget runs in this results directory"


budget_accuracy.skip_all = _no_budget_runs


@register_figure("tta")
def tta(data: ReportData, key: tuple) -> Figure:
    rows = [r for r in tta_rows(data, key, PROFILE_EPS) if r.n]
    if not rows:
        raise SkipFigure("no TTA (curves with val_mae, train_seconds and sample_passes, and a full-data "
                         "run at budget 1, are needed)")
    ivs = [speedup_interval(r) for r in rows]
    vals = [iv.mean for iv in ivs if iv is not None and math.isfinite(iv.mean) and iv.mean > 0]
    if not vals:
        vals = [1.0]
    highs = [iv.hi if iv.has_interval else iv.mean for iv in ivs if iv is not None and iv.mean > 0]
    lows = [iv.lo if iv.has_interval else iv.mean for iv in ivs if iv is not None and iv.mean > 0]
    hi_x = max(highs + [1.0])
    lo_x = max(min(lows + [1.0]), 1e-2)
    log = hi_x / max(min(vals + [1.0]), 1e-9) >= 8.0
    fig, ax = _new_axes(data, key, 0.9 + 0.17 * len(rows))
    y = np.arange(len(rows))[::-1]
    left = lo_x / 1.3 if log else 0.0
    for yi, r, iv in zip(y, rows, ivs):
        colour = strategy_colour(r.setting.strategy)
        if iv is None or not iv.mean > 0:
            text = "not reached" if r.reached == 0 else f"{r.reached}/{r.n} seeds reached"
            ax.text(left if log else 0.02 * hi_x, yi, " " + text, va="center", ha="left", fontsize=6.5,
                    color="#444444")
            continue
        ax.barh(yi, iv.mean - left, left=left, color=colour, alpha=0.75, height=0.65, zorder=2)
        if iv.has_interval:
            ax.errorbar(iv.mean, yi, xerr=[[iv.mean - max(iv.lo, left)], [iv.hi - iv.mean]], color="#222222",
                        capsize=1.5, elinewidth=0.8, linestyle="none", zorder=3)
    ax.axvline(1.0, color="#000000", linewidth=0.8, linestyle=":", zorder=1)
    ax.set_yticks(y)
    ax.set_yticklabels([r.setting.label for r in rows], fontsize=6.5)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.grid(axis="y", visible=False)
    if log:
        log_speedup_axis(ax, left, hi_x)
    else:
        ax.set_xlim(0.0, hi_x * 1.08)
    ax.set_xlabel(f"TTA speedup vs full@1\n(sample passes, target +{PROFILE_EPS * 100:g} %)")
    return fig


@register_global_figure("performance_profile")
def profile_figure(data: ReportData) -> Figure:
    prof = performance_profile(data)
    if not prof.workloads:
        raise SkipFigure("no workload has a time to accuracy")
    ranked = [s for s in prof.ranked() if prof.score(s) > 0][:PROFILE_MAX_LINES]
    if not ranked:
        raise SkipFigure("no setting reached the target on any workload")
    n_legend = len(ranked)
    fig = Figure(figsize=(WIDTH, 2.5 + 0.125 * n_legend), layout="constrained")
    ax = fig.add_subplot()
    per_strategy: dict = {}
    for i, label in enumerate(ranked):
        strategy = label.split(" ")[0]
        k = per_strategy.get(strategy, 0)
        per_strategy[strategy] = k + 1
        r = sorted(prof.r(label, w) for w in prof.workloads)
        taus = sorted({1.0, TAU_MAX} | {x for x in r if 1.0 <= x <= TAU_MAX})
        # a small vertical offset per line keeps coinciding steps apart (values: profile.md)
        dodge = (i - (len(ranked) - 1) / 2.0) * PROFILE_DODGE
        rho = [prof.rho(label, tau) + dodge for tau in taus]
        ax.step(taus, rho, where="post", color=strategy_colour(strategy), linestyle=LINESTYLES[k % len(LINESTYLES)],
                linewidth=1.3, label=f"{label} ({prof.score(label):.2f})")
    ax.set_xlim(1.0, TAU_MAX)
    ax.set_ylim(-0.06, 1.06)
    ax.set_xlabel("τ (TTA in passes / the fastest setting's, per workload)")
    ax.set_ylabel("share of workloads with r ≤ τ")
    n_all = len(prof.labels)
    ax.set_title(f"Performance profile, {len(prof.workloads)} workload(s), target +{PROFILE_EPS * 100:g} %\n"
                 f"of full@1's median best validation MAE", fontsize=7)
    if len(ranked) > 1:
        ax.text(0.99, 0.03, f"lines offset by up to ±{PROFILE_DODGE * (len(ranked) - 1) / 2:.2f}",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=6, color="#555555")
    fig.legend(loc="outside lower center", ncol=1,
               title=f"setting (score): best {len(ranked)} of {n_all}, all in profile.md")
    return fig
