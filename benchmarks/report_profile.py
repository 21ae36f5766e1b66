"""AlgoPerf's performance profile over the workloads of a results directory: ``profile.md``.

For every workload w with a finished full-data run at budget 1 (full@1)::

    target_w  = (1 + eps) * median over the seeds of full@1's best validation MAE
                (fixed per workload from the reference runs, so no setting -- full@1
                included -- reaches it by construction)
    T_sws     = sample passes of seed s of setting s until its validation MAE first reaches
                target_w, interpolated linearly between the two checkpoints around the
                crossing: P = P_{i-1} + (P_i - P_{i-1}) (v_{i-1} - target) / (v_{i-1} - v_i);
                read on runs/RUN/passgrid.csv (validation on a common grid of passes) when
                the run has one, else on curve.csv's per-epoch checkpoints; inf = never
    TTA_sw    = median over the setting's seeds of T_sws (AlgoPerf's median over studies:
                one slow seed does not make a setting infinite)
    r_sw      = TTA_sw / min over s' of TTA_s'w   (inf: not reached, or s did not run on w)

    rho_s(tau) = (1 / |W|) * #{w in W : r_sw <= tau}         (every workload of the profile)
    score_s    = (1 / (tau_max - 1)) * integral_1^tau_max rho_s(tau) dtau
               = mean over w in W of max(0, tau_max - r_sw) / (tau_max - 1)

W holds every workload with a target; a setting that did not run on one counts as
infinite there, so its score is comparable with every other setting's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from stbench.benchmarks.report import ReportData, is_reference_full
from stbench.benchmarks.report_budget import PROFILE_EPS, TAU_MAX, best_val, settings_of
from stbench.benchmarks.report_tables import _md_table, escape_md

#: per-run validation on a common grid of sample passes (written by newer runs)
PASSGRID = "passgrid.csv"
PASSGRID_COLUMNS = ("passes", "train_seconds", "val_mae")


def interpolated_tta(passes, seconds, val, target: float) -> Tuple[float, float]:
    """(passes, seconds) at which ``val`` first reaches ``target`` (<=), interpolated
    linearly between the checkpoint before the crossing and the one at it; the first
    checkpoint itself when it already reaches it; (inf, inf) when none does. ``passes``
    and ``seconds`` are cumulative at each checkpoint (in order); NaN validations are
    skipped."""
    p, t, v = (np.asarray(x, dtype=float) for x in (passes, seconds, val))
    ok = np.isfinite(v) & np.isfinite(p)
    p, t, v = p[ok], t[ok], v[ok]
    hit = np.flatnonzero(v <= target)
    if not math.isfinite(target) or hit.size == 0:
        return float("inf"), float("inf")
    i = int(hit[0])
    if i == 0:
        return float(p[0]), float(t[0])
    frac = (v[i - 1] - target) / (v[i - 1] - v[i])
    return float(p[i - 1] + frac * (p[i] - p[i - 1])), float(t[i - 1] + frac * (t[i] - t[i - 1]))


def load_passgrid(results_dir, run_id: str) -> Optional[pd.DataFrame]:
    """``runs/RUN_ID/passgrid.csv`` sorted by passes (columns passes, train_seconds, val_mae
    cumulative at each grid point), or None when absent; a file without those columns
    raises, naming it."""
    path = Path(results_dir) / "runs" / run_id / PASSGRID
    if not path.is_file():
        return None
    grid = pd.read_csv(path)
    missing = [c for c in PASSGRID_COLUMNS if c not in grid.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {', '.join(PASSGRID_COLUMNS)}")
    grid = grid.apply(pd.to_numeric, errors="coerce")
    return grid.sort_values("passes", kind="mergesort").reset_index(drop=True)


def run_tta_passes(data: ReportData, run_id: str, target: float) -> Optional[float]:
    """Interpolated passes of one run to ``target``: on its passgrid.csv when present, else on
    curve.csv (cumulative sample_passes and train_seconds per epoch); None without either."""
    grid = data.cache.setdefault(("passgrid",), {})
    if run_id not in grid:
        grid[run_id] = load_passgrid(data.results_dir, run_id)
    g = grid[run_id]
    if g is not None:
        return interpolated_tta(g["passes"], g["train_seconds"], g["val_mae"], target)[0]
    c = data.curve(run_id)
    if c is None or not {"val_mae", "sample_passes", "train_seconds"} <= set(c.columns):
        return None
    return interpolated_tta(np.nancumsum(c["sample_passes"].to_numpy(dtype=float)),
                            np.nancumsum(c["train_seconds"].to_numpy(dtype=float)),
                            c["val_mae"].to_numpy(dtype=float), target)[0]


@dataclass
class Profile:
    workloads: List[tuple]                         # every workload with a target, in report order
    labels: List[str]                              # settings in first-seen order
    ratios: Dict[str, Dict[tuple, float]]          # label -> workload -> r (inf: not reached); absent: not run
    reached: Dict[str, Dict[tuple, int]] = field(default_factory=dict)   # seeds that reached it
    seeds: Dict[str, Dict[tuple, int]] = field(default_factory=dict)     # seeds with a TTA
    targets: Dict[tuple, float] = field(default_factory=dict)
    no_target: List[tuple] = field(default_factory=list)                 # workloads left out, no full@1

    def r(self, label: str, key: tuple) -> float:
        """r_sw; inf where s did not run on w."""
        return self.ratios[label].get(key, float("inf"))

    def rho(self, label: str, tau: float) -> float:
        """Share of *all* the profile's workloads with r_sw <= tau."""
        if not self.workloads:
            return float("nan")
        return float(np.mean([self.r(label, w) <= tau for w in self.workloads]))

    def score(self, label: str) -> float:
        """Mean over all the profile's workloads of max(0, tau_max - r_sw) / (tau_max - 1)."""
        if not self.workloads:
            return float("nan")
        return float(np.mean([max(0.0, TAU_MAX - x) / (TAU_MAX - 1.0) if math.isfinite(x) else 0.0
                              for x in (self.r(label, w) for w in self.workloads)]))

    def ranked(self) -> List[str]:
        return sorted(self.labels, key=lambda s: (-self.score(s), s))


def workload_target(data: ReportData, key: tuple, eps: float) -> float:
    """(1 + eps) * the median over seeds of full@1's best validation MAE (NaN without full@1)."""
    runs = data.select(data.finished, key)
    best = [best_val(data, r) for _, r in runs[is_reference_full(runs)].iterrows()]
    best = [b for b in best if math.isfinite(b)]
    return (1.0 + eps) * float(np.median(best)) if best else float("nan")


def _median_tta(data: ReportData, runs: pd.DataFrame, target: float) -> Tuple[float, int, int]:
    """(median over seeds of the interpolated passes, seeds that reached, seeds with a TTA)."""
    times = []
    for _, r in runs.sort_values("seed").iterrows():
        t = run_tta_passes(data, r["run_id"], target)
        if t is not None:
            times.append(t)
    if not times:
        return float("nan"), 0, 0
    return float(np.median(times)), sum(math.isfinite(t) for t in times), len(times)


def performance_profile(data: ReportData, eps: float = PROFILE_EPS) -> Profile:
    cache_key = ("profile", eps)
    if cache_key in data.cache:
        return data.cache[cache_key]
    prof = Profile([], [], {}, {}, {}, {}, [])
    for key in data.table_keys():
        target = workload_target(data, key, eps)
        times: Dict[str, Tuple[float, int, int]] = {}
        for setting, g in settings_of(data, key):
            med, k, n = _median_tta(data, g, target) if math.isfinite(target) else (float("nan"), 0, 0)
            if n:
                times[setting.label] = (med, k, n)
        if not times:
            prof.no_target.append(key)
            continue
        prof.workloads.append(key)
        prof.targets[key] = target
        finite = [t for t, _, _ in times.values() if math.isfinite(t) and t > 0]
        best = min(finite) if finite else float("nan")
        for label, (t, k, n) in times.items():
            if label not in prof.ratios:
                prof.labels.append(label)
                prof.ratios[label], prof.reached[label], prof.seeds[label] = {}, {}, {}
            prof.ratios[label][key] = t / best if (math.isfinite(t) and finite) else float("inf")
            prof.reached[label][key], prof.seeds[label][key] = k, n
    data.cache[cache_key] = prof
    return prof


def _r_text(prof: Profile, label: str, key: tuple) -> str:
    if key not in prof.ratios[label]:
        return "not run"
    r = prof.ratios[label][key]
    return f"{r:.2f}" if math.isfinite(r) else "not reached"


def render_profile_md(data: ReportData) -> str:
    prof = performance_profile(data)
    lines = ["# Performance profile", "",
             f"AlgoPerf's performance profile over every workload of this results directory that has a "
             f"full-data run at budget 1 (full@1). Target of workload w = (1 + {PROFILE_EPS * 100:g} %) x the "
             f"median over seeds of full@1's best validation MAE (fixed per workload from the reference runs, "
             f"not each seed's or each setting's own best, so no setting reaches it by construction). T_sws = the sample passes seed s of setting s (strategy at a prune ratio r "
             f"or budget b) needs to reach it, interpolated linearly between the checkpoints around the "
             f"crossing (passgrid.csv when the run has one, else the per-epoch curve); TTA_sw = the median "
             f"over the setting's seeds (infinite when most never reach it); r_sw = TTA_sw / min over s' of "
             f"TTA_s'w (1 = fastest on w; infinite when s did not run on w or did not reach the target). "
             f"rho_s(tau) = share of ALL the profile's workloads with r_sw <= tau; Score = the normalised area "
             f"under rho_s over tau in [1, {TAU_MAX:g}] = mean over all workloads of max(0, {TAU_MAX:g} - "
             f"r_sw) / {TAU_MAX - 1:g} (1 = fastest everywhere, 0 = never within {TAU_MAX:g}x). Ran = the "
             f"workloads where s ran (of {len(prof.workloads)}); Reached = where its median reached the "
             f"target; Fastest = r_sw = 1.", ""]
    if not prof.workloads:
        return "\n".join(lines + ["No workload has a TTA (curves with val_mae, train_seconds and sample_passes "
                                  "and a full-data run at budget 1 are needed)."]) + "\n"
    body = []
    for label in prof.ranked():
        r = [prof.r(label, w) for w in prof.workloads]
        body.append([escape_md(label), str(len(prof.ratios[label])), str(sum(math.isfinite(x) for x in r)),
                     str(sum(x == 1.0 for x in r))] +
                    [f"{prof.rho(label, tau):.2f}" for tau in (1.0, 1.5, 2.0, TAU_MAX)] +
                    [f"{prof.score(label):.3f}"])
    lines += _md_table(["Setting", "Ran", "Reached", "Fastest", "rho(1)", "rho(1.5)", "rho(2)",
                        f"rho({TAU_MAX:g})", "Score"], ["---"] + ["---:"] * 8, body) + [""]
    lines += ["## r_sw per workload", ""]
    names = [f"W{i + 1}" for i in range(len(prof.workloads))]
    lines += [f"- {n}: {data.title(k)}; target validation MAE {prof.targets[k]:.4g}"
              for n, k in zip(names, prof.workloads)] + [""]
    if prof.no_target:
        lines += ["Left out (no full@1 run with a curve, so no target): "
                  + "; ".join(data.title(k) for k in prof.no_target) + ".", ""]
    body = [[escape_md(label)] + [_r_text(prof, label, k) for k in prof.workloads] for label in prof.ranked()]
    lines += _md_table(["Setting"] + names, ["---"] + ["---:"] * len(names), body) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"
