"""What a budget win is made of: tuning-trial selection, the selection / plan / total
decomposition, and time to target on the pass grid (issue 26; ../shared/reference/budget.md
"Attribution").

Settings and trials. A results label ``X@lrx0.5`` is setting X run in tuning trial
``lrx0.5`` (benchmarks/config.py ``tuning_trials``); a label without ``@`` is the untuned
trial (lr x 1). A setting is (workload, X, ratio, budget). With more than one trial, each
setting's trial is chosen on validation and reported on test::

    trial*(X) = argmin_t  mean over seeds of val_mae_best(X, t)       (ties: the earlier trial)

and every number below uses each setting's own trial* (the control's and full@1's too).
Without trials the untuned runs are used as they are.

Decomposition. For a budgeted selector X at budget b < 1 with its plan-matched random
control ``X~random`` (pruning/matched.py) and the shortened-schedule control C = ``full``
at b, per seed s (paired), in % of full@1's test MAE of that seed (the workload mean when
the seed has none)::

    selection_s = 100 (MAE_X,s       - MAE_X~random,s) / MAE_full@1,s
    plan_s      = 100 (MAE_X~random,s - MAE_C,s)       / MAE_full@1,s
    total_s     = 100 (MAE_X,s       - MAE_C,s)        / MAE_full@1,s  = selection_s + plan_s

each judged by ``stats.verdict(diffs, margin)`` (better / worse / equivalent / not resolved /
underpowered; margin DEFAULT_MARGIN_PCT % of full@1's MAE; negative = lower MAE). Pass x and
Steps x are full@1's sample passes and optimizer steps over the setting's (means over seeds).

Variants. A setting ``P-...`` (an ablation, a weight mode) against the setting P it varies
(``parent_of``), both untuned: ``variant_s = 100 (MAE_V,s - MAE_P,s) / MAE_full@1,s``.

Outputs (only when the results hold a plan-matched control or tuning trials, so a report
without them is unchanged): ``attribution.md`` and ``figures/attribution.png`` (one panel per
workload: the three effects with their 95 % intervals per selector and budget).
With tuning trials the rest of the report uses the tuned view (``tuned_runs``, called by
report.build_report_data): each setting's chosen trial under the setting's own label, the
other trials left out, so tables, verdicts and figures never pick a trial on test;
attribution.md lists every trial.

Pass grid (``train.pass_grid``, benchmarks/engine.py): ``read_passgrid`` and ``grid_tta``,
the time to a target validation MAE read on the common grid of passes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from stbench.benchmarks import stats

TRIAL_SEP = "@"
CONTROL_SUFFIX = "~random"
FULL = "full"
EFFECTS = ("selection", "plan", "total")
FIGURE = "attribution.png"


# ----------------------------------------------------------------------------- the pass grid
@dataclass(frozen=True)
class GridTTA:
    """Passes and train-loop seconds at the first pass-grid point whose validation MAE <= target
    (inf when never), and the epoch it fell in."""

    passes: float
    seconds: float
    epoch: float = float("nan")


def read_passgrid(run_dir) -> Optional[pd.DataFrame]:
    """A run's ``passgrid.csv`` (columns passes, train_seconds, val_mae, epoch) or None."""
    path = Path(run_dir) / "passgrid.csv"
    return pd.read_csv(path) if path.is_file() else None


def grid_tta(grid: Optional[pd.DataFrame], target: float) -> GridTTA:
    """Time to ``target`` on the pass grid: the first row with val_mae <= target."""
    if grid is None or grid.empty or not math.isfinite(target):
        return GridTTA(math.inf, math.inf)
    val = grid["val_mae"].to_numpy(dtype=float)
    hit = np.flatnonzero(np.isfinite(val) & (val <= target))
    if hit.size == 0:
        return GridTTA(math.inf, math.inf)
    row = grid.iloc[int(hit[0])]
    return GridTTA(float(row["passes"]), float(row["train_seconds"]), float(row["epoch"]))


# ----------------------------------------------------------------------------- settings and trials
def split_label(label: str) -> Tuple[str, str]:
    """``X@lrx0.5`` -> (``X``, ``lrx0.5``); ``X`` -> (``X``, ``""``: the untuned trial)."""
    base, _, trial = str(label).partition(TRIAL_SEP)
    return base, trial


def settings_frame(finished: pd.DataFrame, table_key: Sequence[str]) -> pd.DataFrame:
    """Finished runs with ``setting``, ``trial`` and ``b`` (budget, 1 when empty) columns."""
    df = finished.copy()
    parts = [split_label(s) for s in df["strategy"]]
    df["setting"] = [p[0] for p in parts]
    df["trial"] = [p[1] for p in parts]
    b = pd.to_numeric(df["budget"], errors="coerce") if "budget" in df.columns else pd.Series(np.nan, index=df.index)
    df["b"] = b.fillna(1.0).astype(float)
    for col in ("steps", "sample_passes", "val_mae_best", "mae"):
        if col not in df.columns:
            df[col] = np.nan
    return df


def setting_key(table_key: Sequence[str]) -> List[str]:
    return list(table_key) + ["setting", "ratio", "b"]


def trial_table(frame: pd.DataFrame, table_key: Sequence[str]) -> pd.DataFrame:
    """One row per (setting, trial): seeds, mean validation and test MAE, and ``chosen``
    (True on each setting's trial with the lowest mean validation MAE; ties: earlier trial,
    the untuned trial ``""`` first)."""
    keys = setting_key(table_key)
    rows = (frame.groupby(keys + ["trial"], dropna=False, sort=True)
            .agg(seeds=("seed", "nunique"), val=("val_mae_best", "mean"), test=("mae", "mean"))
            .reset_index())
    rows["chosen"] = False
    for _, grp in rows.groupby(keys, dropna=False, sort=False):
        ok = grp[np.isfinite(grp["val"].to_numpy(dtype=float))]
        if len(ok):
            rows.loc[ok["val"].astype(float).idxmin(), "chosen"] = True
    return rows


def chosen_runs(frame: pd.DataFrame, trials: pd.DataFrame, table_key: Sequence[str]) -> pd.DataFrame:
    """The runs of each setting's chosen trial."""
    keys = setting_key(table_key) + ["trial"]
    pick = trials.loc[trials["chosen"], keys]
    return frame.merge(pick, on=keys, how="inner")


SETTING_COLUMNS = ("dataset", "model", "profile", "optimizer", "workload", "train_fraction")


def tuned_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The tuned view of results.csv rows (report.read_results): unchanged without tuning
    trials; else, for every setting, only the runs of its trial chosen on validation
    (``trial_table``, finished runs), relabelled ``X@lrx0.5`` -> ``X``. A setting with no
    finished run keeps its untuned runs."""
    labels = runs["strategy"].astype(str)
    if runs.empty or not labels.str.contains(TRIAL_SEP, regex=False).any():
        return runs
    key = [c for c in SETTING_COLUMNS if c in runs.columns]
    frame = settings_frame(runs, key)
    trials = trial_table(frame[frame["status"] == "finished"], key)
    cols = setting_key(key)

    def ident(row) -> tuple:           # NaN-free, so equal settings compare equal
        return tuple(None if isinstance(row[c], float) and math.isnan(row[c]) else row[c] for c in cols)

    chosen = {ident(r): r["trial"] for _, r in trials[trials["chosen"]].iterrows()}
    keep = [r["trial"] == chosen.get(ident(r), "") for _, r in frame.iterrows()]
    out = runs[np.asarray(keep, dtype=bool)].copy()
    out["strategy"] = [split_label(x)[0] for x in out["strategy"]]
    return out


# ----------------------------------------------------------------------------- the decomposition
@dataclass(frozen=True)
class Effect:
    key: tuple            # the workload (table key values)
    selector: str
    budget: float
    kind: str             # selection | plan | total
    verdict: stats.Verdict
    p_adj: float = math.nan   # adjusted over the family (:func:`adjusted`)
    against: str = ""         # kind ``variant``: the setting it varies (parent_of)


def adjusted(effects: List[Effect], method: str = stats.DEFAULT_ADJUST) -> List[Effect]:
    """``effects`` with ``p_adj``: their paired t p-values adjusted together (``method``:
    Holm or BH, stats.adjust_pvalues) over the family of every effect with an interval; the
    rest keep NaN."""
    idx = [i for i, e in enumerate(effects) if math.isfinite(e.verdict.p)]
    adj = stats.adjust_pvalues([effects[i].verdict.p for i in idx], method) if idx else []
    out = list(effects)
    for i, p in zip(idx, adj):
        out[i] = replace(out[i], p_adj=float(p))
    return out


def _rules(data):
    """(margin %, adjustment, level) of the report (``data.rules``), or the defaults."""
    r = getattr(data, "rules", None)
    if r is None:
        return stats.DEFAULT_MARGIN_PCT, stats.DEFAULT_ADJUST, stats.LEVEL
    return r.margin_pct, r.adjust, r.level


def _per_seed(runs: pd.DataFrame, col: str = "mae") -> Dict[int, float]:
    return {int(s): float(v) for s, v in zip(runs["seed"], runs[col]) if math.isfinite(float(v))}


def _pct_diffs(a: Dict[int, float], b: Dict[int, float], ref: Dict[int, float]) -> List[float]:
    mean_ref = float(np.mean(list(ref.values()))) if ref else math.nan
    return [100.0 * (a[s] - b[s]) / ref.get(s, mean_ref) for s in sorted(set(a) & set(b))]


def decompose(chosen: pd.DataFrame, table_key: Sequence[str],
              margin: float = stats.DEFAULT_MARGIN_PCT) -> List[Effect]:
    """Selection, plan and total effect (module doc) of every selector with a plan-matched
    control, per workload and budget b < 1, on each setting's chosen trial."""
    out: List[Effect] = []
    for key, wl, ref, setting, b, runs in _budgeted(chosen, table_key):
        if setting == FULL or setting.endswith(CONTROL_SUFFIX):
            continue
        ctrl_rand = wl[(wl["setting"] == setting + CONTROL_SUFFIX) & (wl["b"] == b)]
        control = wl[(wl["setting"] == FULL) & (wl["b"] == b)]
        if ctrl_rand.empty:
            continue
        sel, rnd, ctl = _per_seed(runs), _per_seed(ctrl_rand), _per_seed(control)
        pairs = {"selection": (sel, rnd), "plan": (rnd, ctl), "total": (sel, ctl)}
        for kind in EFFECTS:
            a, c = pairs[kind]
            out.append(Effect(key, setting, float(b), kind, stats.verdict(_pct_diffs(a, c, ref), margin)))
    return out


def _budgeted(frame: pd.DataFrame, table_key: Sequence[str]):
    """Per workload with a full@1 run and per setting at a budget b < 1: (workload key, the
    workload's runs, full@1's test MAE per seed, setting, b, the setting's runs)."""
    for key, wl in frame.groupby(list(table_key), dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        ref = _per_seed(wl[(wl["setting"] == FULL) & (wl["b"] >= 1.0)])
        if not ref:
            continue
        for (setting, b), runs in wl.groupby(["setting", "b"], sort=True):
            if b < 1.0:
                yield key, wl, ref, setting, b, runs


def parent_of(setting: str, settings) -> Optional[str]:
    """The setting ``setting`` varies: the longest other label P among ``settings`` with
    ``setting`` = ``P-...`` (neither ``full`` nor a ``~random`` control), else None;
    e.g. ``stprune-b-pool-unbiased`` -> ``stprune-b-pool`` when both ran, else ``stprune-b``."""
    if setting == FULL or setting.endswith(CONTROL_SUFFIX):
        return None
    cands = [p for p in settings if p not in (setting, FULL) and not p.endswith(CONTROL_SUFFIX)
             and setting.startswith(p + "-")]
    return max(cands, key=len) if cands else None


def variant_effects(frame: pd.DataFrame, table_key: Sequence[str],
                    margin: float = stats.DEFAULT_MARGIN_PCT) -> List[Effect]:
    """Every variant V of a setting P (``parent_of``) at the same workload and budget b < 1,
    on the untuned runs (lr x 1: variants such as ablations run no tuning trials), paired by
    seed in % of full@1's test MAE::

        variant_s = 100 (MAE_V,s - MAE_P,s) / MAE_full@1,s

    (kind ``variant``; ``Effect.selector`` is V, ``Effect.against`` P)."""
    out: List[Effect] = []
    for key, wl, ref, setting, b, runs in _budgeted(frame[frame["trial"] == ""], table_key):
        at_b = wl[wl["b"] == b]
        parent = parent_of(setting, set(at_b["setting"]))
        if parent is None:
            continue
        diffs = _pct_diffs(_per_seed(runs), _per_seed(at_b[at_b["setting"] == parent]), ref)
        out.append(Effect(key, setting, float(b), "variant", stats.verdict(diffs, margin), against=parent))
    return out


def applies(frame: pd.DataFrame) -> bool:
    """True when the results hold a plan-matched control or a tuning trial."""
    return bool(frame["setting"].str.endswith(CONTROL_SUFFIX).any() or (frame["trial"] != "").any())


# ----------------------------------------------------------------------------- rendering
def _speedups(chosen: pd.DataFrame, table_key: Sequence[str]) -> Dict[tuple, Tuple[float, float]]:
    """(Pass x, Steps x) of every chosen setting: full@1's mean passes / steps over the setting's."""
    out = {}
    for key, wl in chosen.groupby(list(table_key), dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        ref = wl[(wl["setting"] == FULL) & (wl["b"] >= 1.0)]
        if ref.empty:
            continue
        p_ref, s_ref = ref["sample_passes"].astype(float).mean(), ref["steps"].astype(float).mean()
        for (setting, ratio, b), runs in wl.groupby(["setting", "ratio", "b"], sort=True):
            out[key + (setting, ratio, b)] = (p_ref / runs["sample_passes"].astype(float).mean(),
                                              s_ref / runs["steps"].astype(float).mean())
    return out


def _title(table_key: Sequence[str], key: tuple) -> str:
    parts = dict(zip(table_key, key))
    return " · ".join(str(parts[c]) for c in ("dataset", "model", "optimizer") if parts.get(c)) + \
        f" ({parts.get('profile', '')})" + (f" [{parts['workload']}]" if parts.get("workload") else "")


def _bt(b: float) -> str:
    """``1`` or ``0.167 (6x)``: the budget and its ideal speedup."""
    return "1" if b >= 1.0 else f"{b:g} ({1.0 / b:.2g}x)"


def _fx(x: float) -> str:
    return f"{x:.2f}x" if math.isfinite(x) else ""


def all_trials(data) -> pd.DataFrame:
    """Every finished run with every trial: results.csv itself when ``data`` has a results
    directory (the report's own frames hold the tuned view), else ``data.finished``."""
    path = Path(getattr(data, "results_dir", "") or "") / "results.csv"
    if getattr(data, "results_dir", None) is not None and path.is_file():
        from stbench.benchmarks.report import FINISHED, read_results
        runs, _ = read_results(data.results_dir)
        for col in data.table_key:
            if col not in runs.columns:
                runs[col] = ""
        return runs[runs["status"] == FINISHED].reset_index(drop=True)
    return data.finished


def trial_counts(trials: pd.DataFrame, table_key: Sequence[str]) -> Dict[tuple, int]:
    """How many tuning trials each setting ran: (workload key..., setting, b) -> count."""
    keys = list(table_key) + ["setting", "b"]
    counts = trials.groupby(keys, dropna=False)["trial"].nunique()
    return {(k if isinstance(k, tuple) else (k,)): int(v) for k, v in counts.items()}


def _trials_cell(counts: Dict[tuple, int], key: tuple, sel: str, b: float) -> str:
    """``3 / 3 / 3``: the trials of the selector / its plan-matched random / the control;
    ``1 / 1 / 3 unequal`` when they differ (that effect then measures tuning too)."""
    n = [counts.get(key + (s, b), 0) for s in (sel, sel + CONTROL_SUFFIX, FULL)]
    return " / ".join(str(x) for x in n) + ("" if len(set(n)) == 1 else " unequal")


def _effect_rows(effects: List[Effect], key: tuple, level: float,
                 counts: Optional[Dict[tuple, int]] = None) -> List[str]:
    """The selection / plan / total rows of one workload (each cell: stats.fmt_verdict);
    with ``counts`` (trial_counts) a ``trials`` column (``_trials_cell``)."""
    mine = [e for e in effects if e.key == key]
    if not mine:
        return []
    extra = " trials |" if counts is not None else ""
    lines = ["| selector | budget | selection | plan | total |" + extra,
             "|---|---|---|---|---|" + ("---|" if extra else "")]
    by = {(e.selector, e.budget, e.kind): e for e in mine}
    for sel, b in dict.fromkeys((e.selector, e.budget) for e in mine):
        cells = [stats.fmt_verdict(by[(sel, b, kind)].verdict, by[(sel, b, kind)].p_adj, level)
                 for kind in EFFECTS]
        if counts is not None:
            cells.append(_trials_cell(counts, key, sel, b))
        lines.append(f"| {sel} | {_bt(b)} | " + " | ".join(cells) + " |")
    return lines + [""]


def _frame(data, frame: Optional[pd.DataFrame]) -> pd.DataFrame:
    """``frame`` when the caller already built it, else settings_frame(all_trials(data))."""
    return settings_frame(all_trials(data), data.table_key) if frame is None else frame


def effects_of(data, frame: Optional[pd.DataFrame] = None) -> Tuple[List[Effect], List[Effect]]:
    """(effects on each setting's chosen trial, effects on the untuned trial lr x 1), each
    adjusted over its own family; the second is [] without tuning trials. ``frame``: the
    settings_frame of ``data`` when the caller has it (results.csv is then not read again)."""
    margin, adjust, _ = _rules(data)
    frame = _frame(data, frame)
    trials = trial_table(frame, data.table_key)
    chosen = adjusted(decompose(chosen_runs(frame, trials, data.table_key), data.table_key, margin), adjust)
    untuned: List[Effect] = []
    if (frame["trial"] != "").any():
        untuned = adjusted(decompose(frame[frame["trial"] == ""], data.table_key, margin), adjust)
    return chosen, untuned


def variants_of(data, frame: Optional[pd.DataFrame] = None) -> List[Effect]:
    """variant_effects of the report's runs, adjusted over their own family (``frame``: as
    in effects_of)."""
    margin, adjust, _ = _rules(data)
    frame = _frame(data, frame)
    return adjusted(variant_effects(frame, data.table_key, margin), adjust)


def _variant_rows(effects: List[Effect], key: tuple, level: float) -> List[str]:
    """The rows of the variants table of one workload."""
    mine = [e for e in effects if e.key == key]
    if not mine:
        return []
    lines = ["| variant | against | budget | variant - against |", "|---|---|---|---|"]
    for e in mine:
        lines.append(f"| {e.selector} | {e.against} | {_bt(e.budget)} | "
                     f"{stats.fmt_verdict(e.verdict, e.p_adj, level)} |")
    return lines + [""]


def render_attribution_md(data) -> str:
    """attribution.md: tuning-trial selection, then the decomposition per workload (on the
    chosen trials; with tuning trials also on the untuned runs, lr x 1)."""
    frame = settings_frame(all_trials(data), data.table_key)
    trials = trial_table(frame, data.table_key)
    chosen = chosen_runs(frame, trials, data.table_key)
    effects, untuned = effects_of(data, frame)
    variants = variants_of(data, frame)
    speed = _speedups(chosen, data.table_key)
    margin, adjust, level = _rules(data)
    m = sum(math.isfinite(e.p_adj) for e in effects)
    m_untuned = sum(math.isfinite(e.p_adj) for e in untuned)
    m_var = sum(math.isfinite(e.p_adj) for e in variants)
    from stbench.benchmarks.report import ADJUST_NAMES   # report imports this module
    adj_name = ADJUST_NAMES.get(adjust, adjust)
    lines = ["# Attribution: selection, plan and tuning", "",
             "Generated by `benchmarks/report_attribution.py` (formulas in its module doc). "
             "Each setting's tuning trial is chosen on the mean validation MAE over seeds and "
             "reported on test; every comparison below uses each setting's chosen trial. "
             f"Effects are paired by seed, in % of full@1's test MAE (negative = lower MAE), "
             f"mean [{level * 100:g} % interval], judged with a margin of {margin:g} %: selection = selector "
             f"vs its plan-matched random control (`X{CONTROL_SUFFIX}`), plan = plan-matched "
             "random vs the shortened-schedule control (full at the same budget), total = "
             "selector vs the control. Pass x / Steps x: full@1's sample passes / optimizer "
             f"steps over the setting's. Adjusted p: {adj_name} over the {m} effects of the "
             "selection / plan / total tables"
             + (" (" + "; ".join(([f"the untuned tables: over their own {m_untuned}"] if untuned else [])
                                 + ([f"the variants tables: over their own {m_var}"] if variants else [])) + ")"
                if untuned or variants else "")
             + "; a better / worse marked n.s. does not survive it.", ""]
    if variants:
        lines += ["Variants: a setting labelled `P-...` against the setting P it varies (the longest "
                  "such label that ran at the same budget; an ablation or a weight mode against the "
                  "method), both at lr x 1, paired by seed in % of full@1's test MAE.", ""]
    keys = setting_key(data.table_key)
    n_trials = trials.groupby(keys, dropna=False)["trial"].nunique().max() if len(trials) else 0
    counts = trial_counts(trials, data.table_key) if n_trials > 1 else None
    if counts is not None:
        lines += ["Trials: the tuning trials run for the selector / its plan-matched random / "
                  "the control. Where they are unequal the tuned effect also measures the "
                  "tuning (a setting with more trials can only gain on validation); read the "
                  "untuned table for those rows.", ""]
    for key, wl in trials.groupby(list(data.table_key), dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        lines += [f"## {_title(data.table_key, key)}", ""]
        if wl.groupby(keys, dropna=False)["trial"].nunique().max() > 1:  # this workload tuned
            lines += ["### Tuning trials (chosen on validation, reported on test)", "",
                      "| setting | budget | trial | seeds | val MAE | test MAE | chosen |",
                      "|---|---|---|---:|---:|---:|---|"]
            for _, r in wl.iterrows():
                ratio = "" if r["b"] < 1.0 or r["setting"] == FULL else f" (r {r['ratio']:g})"
                lines.append(f"| {r['setting']}{ratio} | {_bt(r['b'])} | {r['trial'] or 'lrx1'} | "
                             f"{int(r['seeds'])} | {r['val']:.4f} | {r['test']:.4f} | "
                             f"{'**chosen**' if r['chosen'] else ''} |")
            lines.append("")
        lines += ["### Chosen settings", "", "| setting | budget | trial | test MAE | Pass x | Steps x |",
                  "|---|---|---|---:|---:|---:|"]
        for _, r in wl[wl["chosen"]].iterrows():
            px, sx = speed.get(key + (r["setting"], r["ratio"], r["b"]), (math.nan, math.nan))
            lines.append(f"| {r['setting']} | {_bt(r['b'])} | {r['trial'] or 'lrx1'} | {r['test']:.4f} | "
                         f"{_fx(px)} | {_fx(sx)} |")
        lines.append("")
        rows = _effect_rows(effects, key, level, counts)
        if rows:
            lines += ["### Selection / plan / total", ""] + rows
        rows = _effect_rows(untuned, key, level)
        if rows and n_trials > 1:
            lines += ["### Selection / plan / total, untuned (every setting at lr x 1)", ""] + rows
        rows = _variant_rows(variants, key, level)
        if rows:
            lines += ["### Variants against their parent (lr x 1)", ""] + rows
    return "\n".join(lines).rstrip() + "\n"


def render_all(data) -> Dict[str, str]:
    """{"attribution.md": text} when the results hold a plan-matched control or tuning trials."""
    runs = all_trials(data)
    if runs.empty or not applies(settings_frame(runs, data.table_key)):
        return {}
    return {"attribution.md": render_attribution_md(data)}


def write_figures(data, fig_dir) -> List[Path]:
    """figures/attribution.png: per workload, the three effects (bars, 95 % interval whiskers)
    per selector and budget, with the +-margin band. [] when nothing applies."""
    runs = all_trials(data)
    if runs.empty:
        return []
    frame = settings_frame(runs, data.table_key)
    if not applies(frame):
        return []
    effects, _ = effects_of(data, frame)
    if not effects:
        return []
    margin, _, _ = _rules(data)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(dict.fromkeys(e.key for e in effects))
    fig, axes = plt.subplots(len(keys), 1, figsize=(8.0, 3.6 * len(keys)), squeeze=False)
    colors = {"selection": "#1f77b4", "plan": "#ff7f0e", "total": "#2ca02c"}
    for ax, key in zip(axes[:, 0], keys):
        mine = [e for e in effects if e.key == key]
        groups = list(dict.fromkeys((e.selector, e.budget) for e in mine))
        width = 0.26
        for j, kind in enumerate(EFFECTS):
            xs, ys, lo, hi = [], [], [], []
            for i, g in enumerate(groups):
                v = next(e.verdict for e in mine if (e.selector, e.budget) == g and e.kind == kind)
                iv = v.interval
                xs.append(i + (j - 1) * width)
                ys.append(iv.mean)
                lo.append(iv.mean - iv.lo if iv.has_interval else 0.0)
                hi.append(iv.hi - iv.mean if iv.has_interval else 0.0)
            ax.bar(xs, ys, width, color=colors[kind], label=kind, yerr=[lo, hi], capsize=3)
        ax.axhspan(-margin, margin, color="0.9", zorder=0, label=f"±{margin:g} % margin")
        ax.axhline(0.0, color="0.3", lw=0.8)
        ax.set_xticks(range(len(groups)))
        ax.set_xlim(-0.6, max(len(groups) - 0.4, 1.4))   # one group: bars keep their width
        ax.set_xticklabels([f"{s}\n{1.0 / b:.2g}x" for s, b in groups], fontsize=7, rotation=20, ha="right")
        ax.set_ylabel("Δ test MAE, % of full@1\n(negative = better)", fontsize=8)
        ax.set_title(_title(data.table_key, key), fontsize=9, wrap=True)
        ax.legend(fontsize=7, ncol=4, loc="best")
    fig.tight_layout()
    path = Path(fig_dir) / FIGURE
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]
