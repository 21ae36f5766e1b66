"""Reports from a results directory: speedups, aggregation over seeds, tables, figures.

Input (written by the results store)::

    DIR/results.csv               one row per run (the source of truth)
    DIR/runs/RUN_ID/curve.csv     per-epoch curve of one run (optional)

Output of :func:`write_report` (default ``DIR/report``)::

    tables.md, tables.tex         one table per (data set, model, profile)
    summary.csv, summary.md       one row per (data set, model, profile, strategy, ratio)
    convergence.md                per strategy: validation-MAE gain over the last 20 % of epochs
    efficiency.md                 per strategy: pruning efficiency across runs and within a run,
                                  and the machine-load check of each table
    budget.md, budget.tex         per workload with budget runs: accuracy at equal compute
                                  (benchmarks/report_budget.py)
    budget_summary.md             with budget runs: best per budget, saving without loss, vs control
                                  (benchmarks/report_summary.py)
    attribution.md                with plan-matched controls or tuning trials: the trial chosen on
                                  validation, selection / plan / total effects
                                  (benchmarks/report_attribution.py; figures/attribution.png)
    tta.md                        time (train seconds, sample passes) to a target validation MAE
    profile.md                    performance profile of every setting over the workloads
    figures/*.png, figures/*.pdf  see benchmarks/report_figures.py
    index.md                      what was written, the grid, failed and set-aside runs, skipped figures,
                                  incomplete run directories of runs/ (with their reason)

A table is one workload: (data set, model, profile), plus ``optimizer`` and ``workload``
(the signature of the resolved data, model and training config) when results.csv has
those columns. Older files without them fall back to (data set, model, profile).

Speedups of a finished run r, relative to the full-data run f at budget 1 (budget empty
or 1) of the same workload and seed -- or, when that seed has none, to the mean over the
workload's full runs at budget 1::

    wall_speedup  = train_seconds_f / train_seconds_r        (PRIMARY: train loop only)
    pass_speedup  = sample_passes_f / sample_passes_r        (= ideal wall-clock speedup)
    passes_saved  = 1 - sample_passes_r / sample_passes_f
    step_speedup  = steps_f / steps_r
    efficiency    = wall_speedup / pass_speedup
    dmae_pct      = 100 * (mae_r / mae_f - 1)                (negative = better than full)

Per-run values are then averaged over seeds (mean, sample std with ddof=1); dMAE also
gets the 95 % t interval of its per-seed values (benchmarks/stats.py) and its verdict at
the report's margin (:class:`VerdictRules`: margin delta in % of full@1's MAE, default 1;
p-value adjustment, default Holm; from ``report --margin/--adjust`` or a suite's
``report:`` block).
Everything is sorted before any arithmetic, so the same rows in any order give
byte-identical tables.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from stbench.benchmarks import report_attribution, stats

FULL_LABEL = "full"
FINISHED = "finished"
#: strategies in this order; others alphabetically after them; ablations after their parent
STRATEGY_ORDER = ("full", "random", "rs2", "static", "infobatch", "stprune")
METRICS = ("mae", "rmse", "mape")
HORIZONS = (3, 6, 12)
METRIC_COLUMNS = tuple(METRICS) + tuple(f"{m}@{h}" for h in HORIZONS for m in METRICS)
TEXT_COLUMNS = ("run_id", "dataset", "model", "strategy", "pruner", "profile", "status", "error")
NUMERIC_COLUMNS = ("ratio", "seed", "params") + METRIC_COLUMNS + (
    "val_mae_best", "best_epoch", "epochs", "train_seconds", "eval_seconds", "pruner_seconds",
    "total_seconds", "sample_passes", "full_sample_passes", "steps", "kept_fraction",
)
REQUIRED_COLUMNS = TEXT_COLUMNS + NUMERIC_COLUMNS
#: columns appended by newer stores; a file without them reads them as empty
OPTIONAL_TEXT_COLUMNS = ("optimizer", "workload", "value_scale", "finished_at")
OPTIONAL_NUMERIC_COLUMNS = ("budget", "budget_reached", "reference_epochs", "wape", "train_fraction")
OPTIONAL_COLUMNS = OPTIONAL_TEXT_COLUMNS + OPTIONAL_NUMERIC_COLUMNS
#: a table / figure panel is one of these (the base key; see ReportData.table_key)
TABLE_KEY = ("dataset", "model", "profile")
#: added to the table key when results.csv has the column
WORKLOAD_COLUMNS = ("optimizer", "workload")
#: one aggregated row (a group of seeds) is one of these (plus ``budget`` when present)
GROUP_KEY = TABLE_KEY + ("strategy", "ratio")
#: a grid cell; two finished runs of one cell are duplicates
CELL_KEY = GROUP_KEY + ("seed",)
SPEEDUP_COLUMNS = ("wall_speedup", "pass_speedup", "passes_saved", "step_speedup", "efficiency", "dmae_pct")
#: per-run quantities averaged over seeds in summary.csv
AGGREGATED = METRIC_COLUMNS + (
    "val_mae_best", "best_epoch", "epochs", "params", "train_seconds", "eval_seconds",
    "pruner_seconds", "total_seconds", "sample_passes", "full_sample_passes", "steps",
    "kept_fraction",
) + SPEEDUP_COLUMNS
#: aggregated as well when results.csv has them
AGGREGATED_OPTIONAL = ("wape", "budget_reached")
#: the interval of the per-seed dMAE (paired with the same seed's full run), in summary.csv
DMAE_CI_COLUMNS = ("dmae_pct_lo", "dmae_pct_hi", "dmae_pct_paired")
#: an epoch counts as full data when its kept fraction is at least this
FULL_EPOCH_KEPT = 1.0 - 1e-9
#: trust flags: an efficiency outside this range, or full-data epochs whose mean train
#: seconds differ by more than LOAD_SPREAD between the runs of one table
EFFICIENCY_RANGE = (0.8, 1.25)
LOAD_SPREAD = 0.25
#: value_scale of data on an interval scale (temperatures in kelvin): MAPE/WAPE meaningless
INTERVAL_SCALE = "interval"


# ----------------------------------------------------------------------------- loading
def _parse_numeric(df: pd.DataFrame, col: str, path: Path) -> pd.Series:
    """Empty -> NaN; anything else that is not a number raises, naming row and value."""
    text = df[col].astype(str).str.strip()
    values = pd.to_numeric(text.where(text != "", None), errors="coerce").astype(float)
    bad = values.isna() & (text != "") & (text.str.lower() != "nan")
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{path}: column {col!r} of run {df['run_id'].iloc[i]!r} holds "
                         f"{text.iloc[i]!r}; expected a number or an empty cell")
    return values


def strategy_sort_key(label: str, parent: str) -> tuple:
    """Fixed order of STRATEGY_ORDER, then others alphabetically; an ablation
    (label != parent) comes right after its parent."""
    rank = STRATEGY_ORDER.index(parent) if parent in STRATEGY_ORDER else len(STRATEGY_ORDER)
    return (rank, parent, label != parent, label)


def strategy_parents(df: pd.DataFrame) -> Dict[str, str]:
    """label -> parent strategy: the registered pruner name when it differs from the label
    (an ablation such as ``stprune-no-complexity`` of pruner ``stprune``), else the label."""
    out: Dict[str, str] = {}
    for label in sorted(set(df["strategy"])):
        if label == FULL_LABEL:
            out[label] = label
            continue
        pruners = sorted(p for p in set(df.loc[df["strategy"] == label, "pruner"]) if p)
        out[label] = pruners[0] if pruners else label
    return out


def ordered_strategies(df: pd.DataFrame) -> List[str]:
    parents = strategy_parents(df)
    return sorted(parents, key=lambda s: strategy_sort_key(s, parents[s]))


def _budget_order(frame: pd.DataFrame) -> Tuple[pd.Series, pd.Series]:
    """Sort keys putting budgets in descending order; an empty budget counts as 1 (the
    full-data reference, or a ratio run) and comes before a budget of 1."""
    if "budget" not in frame.columns:
        zero = pd.Series(0.0, index=frame.index)
        return zero, zero
    b = frame["budget"].astype(float)
    return -b.fillna(1.0), b.notna().astype(float)


def _workload_order(df: pd.DataFrame) -> List[str]:
    """Sort columns after (data set, model, profile): the WORKLOAD_COLUMNS present, with the
    helper column ``_tf`` (minus the training fraction) before ``workload``, so a data-scale
    workload's whole training span comes first whatever its hash."""
    extra = [c for c in WORKLOAD_COLUMNS if c in df.columns]
    if extra and extra[-1] == "workload":
        extra.insert(len(extra) - 1, "_tf")
    return extra


def sort_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Total order: data set, model, profile, optimizer, workload, strategy order,
    budget (descending), ratio, seed, run id."""
    if df.empty:
        return df.reset_index(drop=True)
    rank = {s: i for i, s in enumerate(ordered_strategies(df))}
    b1, b2 = _budget_order(df)
    key = df.assign(_rank=df["strategy"].map(rank), _b1=b1, _b2=b2,
                    _tf=-df["train_fraction"].fillna(1.0) if "train_fraction" in df.columns else 0.0)
    extra = _workload_order(df)
    key = key.sort_values(["dataset", "model", "profile"] + extra + ["_rank", "_b1", "_b2", "ratio", "seed",
                                                                     "run_id"], kind="mergesort")
    return key.drop(columns=["_rank", "_b1", "_b2", "_tf"]).reset_index(drop=True)


def read_results(results_dir) -> Tuple[pd.DataFrame, frozenset]:
    """Like :func:`load_results`, and the set of OPTIONAL_COLUMNS that the file holds."""
    path = Path(results_dir) / "results.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no results file {path}; expected the results store's long CSV")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw.columns = [c.strip() for c in raw.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; expected {list(REQUIRED_COLUMNS)}")
    present = frozenset(c for c in OPTIONAL_COLUMNS if c in raw.columns)
    for col in OPTIONAL_COLUMNS:
        if col not in raw.columns:
            raw[col] = ""
    df = pd.DataFrame({c: raw[c].astype(str).str.strip() for c in TEXT_COLUMNS + OPTIONAL_TEXT_COLUMNS})
    df["status"] = df["status"].str.lower()
    df["value_scale"] = df["value_scale"].str.lower()
    for col in NUMERIC_COLUMNS + OPTIONAL_NUMERIC_COLUMNS:
        df[col] = _parse_numeric(raw, col, path)
    if df["run_id"].eq("").any() or df["run_id"].duplicated().any():
        dup = sorted(set(df.loc[df["run_id"].duplicated(), "run_id"]))
        raise ValueError(f"{path}: run_id must be unique and non-empty; duplicated: {dup}")
    for col in ("dataset", "model", "strategy"):
        if df[col].eq("").any():
            rid = df.loc[df[col].eq(""), "run_id"].iloc[0]
            raise ValueError(f"{path}: run {rid!r} has an empty {col!r}")
    for col in ("ratio", "seed"):
        if df[col].isna().any():
            rid = df.loc[df[col].isna(), "run_id"].iloc[0]
            raise ValueError(f"{path}: run {rid!r} has no {col!r}; expected a number")
    fractional = df["seed"] != np.round(df["seed"])
    if fractional.any():
        rid = df.loc[fractional, "run_id"].iloc[0]
        raise ValueError(f"{path}: run {rid!r} has seed {df.loc[fractional, 'seed'].iloc[0]}; expected an integer")
    df["seed"] = df["seed"].astype(np.int64)
    bad = df["budget"].notna() & ~((df["budget"] > 0) & (df["budget"] <= 1))
    if bad.any():
        rid = df.loc[bad, "run_id"].iloc[0]
        raise ValueError(f"{path}: run {rid!r} has budget {df.loc[bad, 'budget'].iloc[0]}; expected (0, 1]")
    # the full-data run at budget 1 is the reference, whether its budget is written or not
    df.loc[(df["strategy"] == FULL_LABEL) & (df["budget"] == 1.0), "budget"] = np.nan
    return sort_runs(df), present


def load_results(results_dir) -> pd.DataFrame:
    """Read and validate ``results_dir/results.csv``; numbers as float, sorted (see sort_runs).

    Columns of OPTIONAL_COLUMNS that the file lacks read as empty ('' or NaN). A ``full``
    run with budget 1 gets an empty budget (it is the full-data reference)."""
    return read_results(results_dir)[0]


def load_curve(results_dir, run_id: str) -> Optional[pd.DataFrame]:
    """``runs/RUN_ID/curve.csv`` sorted by epoch, or None when absent or unreadable."""
    path = Path(results_dir) / "runs" / run_id / "curve.csv"
    if not path.is_file():
        return None
    try:
        curve = pd.read_csv(path)
    except (ValueError, OSError):  # pandas raises ValueError subclasses on bad CSV
        return None
    if "epoch" not in curve.columns:
        return None
    curve = curve.apply(pd.to_numeric, errors="coerce")
    return curve.sort_values("epoch", kind="mergesort").reset_index(drop=True)


def norm_key(key) -> tuple:
    """A group key with NaN replaced by None, so that equal keys compare equal."""
    key = key if isinstance(key, tuple) else (key,)
    return tuple(None if isinstance(v, float) and math.isnan(v) else v for v in key)


def is_reference_full(frame: pd.DataFrame) -> pd.Series:
    """The full-data runs at budget 1 (budget empty): the reference of every speedup."""
    return (frame["strategy"] == FULL_LABEL) & frame["budget"].isna()


# ----------------------------------------------------------------------------- speedups
def _ratio(num, den) -> np.ndarray:
    """num / den elementwise; NaN where either is missing or den <= 0."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(np.isfinite(den) & (den > 0) & np.isfinite(num), out, np.nan)


_REF_QUANTITIES = ("train_seconds", "sample_passes", "steps", "mae")


def attach_speedups(finished: pd.DataFrame, table_key: Sequence[str] = TABLE_KEY) -> pd.DataFrame:
    """Add the reference used (``reference``: seed / mean / none) and SPEEDUP_COLUMNS.

    The reference of a run is the finished full run at budget 1 of its table (workload)
    and seed; when that seed has none, the mean over the table's finished full runs at
    budget 1; when there are none, every speedup is NaN.
    """
    df = finished.copy()
    if "budget" not in df.columns:
        df["budget"] = np.nan
    ref = pd.DataFrame(np.nan, index=df.index, columns=list(_REF_QUANTITIES))
    kind = pd.Series("none", index=df.index, dtype=object)
    for key, rows in df.groupby(list(table_key), sort=True):
        fulls = rows[is_reference_full(rows)]
        if fulls.empty:
            continue
        pooled = fulls[list(_REF_QUANTITIES)].mean(axis=0)
        by_seed = fulls.groupby("seed", sort=True)[list(_REF_QUANTITIES)].mean()
        for idx, seed in rows["seed"].items():
            if seed in by_seed.index:
                ref.loc[idx] = by_seed.loc[seed].to_numpy()
                kind.loc[idx] = "seed"
            else:
                ref.loc[idx] = pooled.to_numpy()
                kind.loc[idx] = "mean"
    df["reference"] = kind
    df["wall_speedup"] = _ratio(ref["train_seconds"], df["train_seconds"])
    df["pass_speedup"] = _ratio(ref["sample_passes"], df["sample_passes"])
    df["passes_saved"] = 1.0 - _ratio(df["sample_passes"], ref["sample_passes"])
    df["step_speedup"] = _ratio(ref["steps"], df["steps"])
    df["efficiency"] = _ratio(df["wall_speedup"], df["pass_speedup"])
    df["dmae_pct"] = 100.0 * (_ratio(df["mae"], ref["mae"]) - 1.0)
    return df


# ----------------------------------------------------------------------------- aggregation
def _mean_std(values: np.ndarray) -> tuple:
    """(mean, sample std with ddof=1, count) over the finite values; std NaN when count < 2."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return np.nan, np.nan, 0
    return float(np.mean(v)), (float(np.std(v, ddof=1)) if v.size > 1 else np.nan), int(v.size)


def aggregate(finished: pd.DataFrame, failed: pd.DataFrame, group_key: Sequence[str] = GROUP_KEY,
              optional: Sequence[str] = ()) -> pd.DataFrame:
    """One row per ``group_key``: n, seeds, n_failed, reference, pruner, value_scale,
    ``Q_mean`` / ``Q_std`` for every Q in AGGREGATED and ``optional`` (finite values only),
    and DMAE_CI_COLUMNS: the 95 % t interval of the per-seed dMAE over the runs compared
    with the full run of their own seed (NaN with fewer than two such runs)."""
    group_key = list(group_key)
    quantities = tuple(AGGREGATED) + tuple(optional)
    failed_counts = ({norm_key(k): len(g) for k, g in failed.groupby(group_key, sort=True, dropna=False)}
                     if len(failed) else {})
    records = []
    for key, rows in finished.groupby(group_key, sort=True, dropna=False):
        rec = dict(zip(group_key, key))
        rec["pruner"] = sorted(rows["pruner"])[0]
        rec["n"] = int(len(rows))
        rec["seeds"] = " ".join(str(s) for s in sorted(rows["seed"]))
        rec["n_failed"] = int(failed_counts.get(norm_key(key), 0))
        kinds = set(rows["reference"])
        rec["reference"] = "none" if kinds == {"none"} else ("mean" if "mean" in kinds else "seed")
        scales = sorted(set(rows["value_scale"])) if "value_scale" in rows.columns else []
        rec["value_scale"] = INTERVAL_SCALE if INTERVAL_SCALE in scales else (scales[-1] if scales else "")
        for q in quantities:
            mean, std, _ = _mean_std(rows[q].to_numpy(dtype=float))
            rec[f"{q}_mean"], rec[f"{q}_std"] = mean, std
        paired = rows.loc[rows["reference"] == "seed", "dmae_pct"].to_numpy(dtype=float)
        iv = stats.mean_interval(paired)
        rec["dmae_pct_lo"], rec["dmae_pct_hi"], rec["dmae_pct_paired"] = iv.lo, iv.hi, iv.n
        records.append(rec)
    columns = group_key + ["pruner", "n", "seeds", "n_failed", "reference", "value_scale"] + [
        f"{q}_{s}" for q in quantities for s in ("mean", "std")] + list(DMAE_CI_COLUMNS)
    summary = pd.DataFrame.from_records(records, columns=columns)
    return sort_runs_like(summary, finished)


def sort_runs_like(summary: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Sort groups in the report order (the strategy order is taken from ``runs``)."""
    if summary.empty:
        return summary
    rank = {s: i for i, s in enumerate(ordered_strategies(runs))}
    b1, b2 = _budget_order(summary)
    tf = 0.0
    if "workload" in summary.columns and "train_fraction" in runs.columns:
        tf = -summary["workload"].map(runs.groupby("workload")["train_fraction"].first()).fillna(1.0)
    key = summary.assign(_rank=summary["strategy"].map(rank), _b1=b1, _b2=b2, _tf=tf)
    extra = _workload_order(summary)
    key = key.sort_values(["dataset", "model", "profile"] + extra + ["_rank", "_b1", "_b2", "ratio"],
                          kind="mergesort")
    return key.drop(columns=["_rank", "_b1", "_b2", "_tf"]).reset_index(drop=True)


# ----------------------------------------------------------------------------- verdict rules
@dataclass(frozen=True)
class VerdictRules:
    """How a report turns paired differences into verdicts (benchmarks/stats.py).

    ``margin_pct``: the equivalence margin delta in % of full@1's MAE (the unit of every
    dMAE), so a comparison is *equivalent* when its interval lies inside [-delta, +delta];
    ``level``: the two-sided level of every interval (alpha = 1 - level);
    ``adjust``: the multiplicity adjustment of the report's families of comparisons
    (``holm`` or ``bh``, stats.ADJUSTMENTS)."""

    margin_pct: float = stats.DEFAULT_MARGIN_PCT
    level: float = stats.LEVEL
    adjust: str = stats.DEFAULT_ADJUST

    def __post_init__(self):
        if not (math.isfinite(self.margin_pct) and self.margin_pct > 0):
            raise ValueError(f"report margin must be a number > 0 (% of full@1's MAE), got {self.margin_pct!r}")
        if not 0.5 <= self.level < 1:
            raise ValueError(f"report level must be in [0.5, 1), got {self.level!r}")
        if self.adjust not in stats.ADJUSTMENTS:
            raise ValueError(f"report adjust {self.adjust!r} unknown; valid choices: "
                             f"{', '.join(sorted(stats.ADJUSTMENTS))}")

    @property
    def level_pct(self) -> str:
        return f"{self.level * 100:g} %"

    @property
    def caption(self) -> str:
        """The sentence every table caption carries: level, margin and adjustment."""
        return (f"{self.level_pct} paired t intervals; margin delta = {self.margin_pct:g} % of full@1's MAE; "
                f"p-values adjusted by {ADJUST_NAMES.get(self.adjust, self.adjust)}")


#: how captions name the adjustments
ADJUST_NAMES = {"holm": "Holm", "bh": "Benjamini-Hochberg"}


def rules_from(mapping: Optional[dict], where: str = "report") -> VerdictRules:
    """VerdictRules from a suite's ``report:`` block (keys margin, adjust); errors name the key."""
    mapping = dict(mapping or {})
    known = {"margin": "margin_pct", "adjust": "adjust"}
    extra = sorted(set(mapping) - set(known))
    if extra:
        raise ValueError(f"{where}: unknown key(s) {extra}; valid keys: {', '.join(known)}")
    kwargs = {}
    for key, attr in known.items():
        if key in mapping and mapping[key] is not None:
            value = mapping[key]
            if attr != "adjust" and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ValueError(f"{where}.{key}: expected a number, got {value!r}")
            kwargs[attr] = float(value) if attr != "adjust" else str(value)
    try:
        return VerdictRules(**kwargs)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


# ----------------------------------------------------------------------------- the data of a report
@dataclass
class ReportData:
    """Everything the table and figure writers need, already sorted."""

    results_dir: Path
    runs: pd.DataFrame            # every row of results.csv
    finished: pd.DataFrame        # finished, deduplicated, with speedups
    failed: pd.DataFrame          # every row whose status is not 'finished'
    summary: pd.DataFrame         # aggregate(finished, failed)
    strategies: List[str]         # in report order
    notes: List[str] = field(default_factory=list)
    present: frozenset = frozenset()            # OPTIONAL_COLUMNS that results.csv holds
    table_key: Tuple[str, ...] = TABLE_KEY      # one table / panel per value of these columns
    set_aside: List[str] = field(default_factory=list)  # duplicate runs not used, and why
    _curves: Dict[str, Optional[pd.DataFrame]] = field(default_factory=dict)
    cache: Dict[str, object] = field(default_factory=dict)  # derived results shared by writers
    rules: VerdictRules = field(default_factory=VerdictRules)  # margin, level, adjustment

    @property
    def group_key(self) -> Tuple[str, ...]:
        return group_key_for(self.table_key, self.present)

    @property
    def has_budget(self) -> bool:
        return "budget" in self.present and bool(self.finished["budget"].notna().any())

    def curve(self, run_id: str) -> Optional[pd.DataFrame]:
        if run_id not in self._curves:
            self._curves[run_id] = load_curve(self.results_dir, run_id)
        return self._curves[run_id]

    def table_keys(self) -> List[tuple]:
        if self.summary.empty:
            return []
        return list(dict.fromkeys(map(tuple, self.summary[list(self.table_key)].itertuples(index=False))))

    def select(self, frame: pd.DataFrame, key: tuple) -> pd.DataFrame:
        mask = np.ones(len(frame), dtype=bool)
        for col, value in zip(self.table_key, key):
            mask &= (frame[col] == value).to_numpy()
        return frame[mask]

    def key_parts(self, key: tuple) -> Dict[str, str]:
        return {col: str(v) for col, v in zip(self.table_key, key)}

    def train_part(self, key: tuple) -> str:
        """``last 1/8 of the training windows`` for a data-scale workload (train_fraction < 1), else ''."""
        if "train_fraction" not in self.present:
            return ""
        f = self.select(self.runs, key)["train_fraction"].dropna()
        if f.empty or float(f.iloc[0]) >= 1.0:
            return ""
        frac = float(f.iloc[0])
        inv = 1.0 / frac
        return f"last {f'1/{inv:.0f}' if abs(inv - round(inv)) < 1e-9 else f'{frac:g}'} of the training windows"

    def title(self, key: tuple) -> str:
        """``dataset · model (profile p)``, with `` · optimizer``, `` · last 1/k of the training
        windows`` and ``, workload w`` when known."""
        p = self.key_parts(key)
        head = " · ".join(x for x in (p["dataset"], p["model"], p.get("optimizer", ""), self.train_part(key)) if x)
        tail = ", ".join([f"profile {p['profile']}"] + ([f"workload {p['workload']}"] if p.get("workload") else []))
        return f"{head} ({tail})"

    def short_title(self, key: tuple) -> str:
        """Figure title: ``dataset · model (profile)`` plus the optimizer and training part when known."""
        p = self.key_parts(key)
        head = " · ".join(x for x in (p["dataset"], p["model"], p.get("optimizer", ""),
                                      self.train_part(key).replace(" of the training windows", " of train")) if x)
        return f"{head} ({p['profile']})"

    def name_key(self, key: tuple) -> tuple:
        """The part of a table key that names its files and labels: (data set, model, profile)
        when no other table shares them, so the names of older reports stay; else the full key."""
        base = tuple(key[:len(TABLE_KEY)])
        same = [k for k in self.table_keys() if tuple(k[:len(TABLE_KEY)]) == base]
        return base if len(same) <= 1 else tuple(key)

    def slug(self, key: tuple) -> str:
        """File-name part of a table: the non-empty values of its name_key, lower case, '_'-joined."""
        return "_".join("".join(ch if ch.isalnum() else "-" for ch in str(k).lower())
                        for k in self.name_key(key) if str(k))

    def load_check(self, key: tuple) -> Tuple[float, float, float]:
        """(min, max, relative spread) over the table's finished runs of the mean train
        seconds of their full-data epochs (kept fraction 1 in curve.csv); NaN without two
        such runs. A spread above LOAD_SPREAD means the machine's speed changed between
        runs (load), so wall-clock comparisons of the table are not results."""
        means = []
        for rid in self.select(self.finished, key)["run_id"]:
            c = self.curve(rid)
            if c is None or not {"kept_fraction", "train_seconds"} <= set(c.columns):
                continue
            t = c.loc[c["kept_fraction"] >= FULL_EPOCH_KEPT, "train_seconds"].to_numpy(dtype=float)
            t = t[np.isfinite(t)]
            if t.size:
                means.append(float(np.mean(t)))
        if len(means) < 2:
            return float("nan"), float("nan"), float("nan")
        lo, hi = min(means), max(means)
        return lo, hi, (hi / lo - 1.0 if lo > 0 else float("nan"))

    def load_flagged(self, key: tuple) -> bool:
        spread = self.load_check(key)[2]
        return bool(np.isfinite(spread) and spread > LOAD_SPREAD)


def table_key_for(present) -> Tuple[str, ...]:
    return TABLE_KEY + tuple(c for c in WORKLOAD_COLUMNS if c in present)


def group_key_for(table_key: Sequence[str], present) -> Tuple[str, ...]:
    return tuple(table_key) + ("strategy", "ratio") + (("budget",) if "budget" in present else ())


def _deduplicate(finished: pd.DataFrame, cell_key: Sequence[str], set_aside: List[str]) -> pd.DataFrame:
    """Keep one finished run per grid cell: the newest ``finished_at`` (an empty one counts
    as oldest), then the last run id. The others are listed in ``set_aside`` with the reason."""
    order = finished.sort_values(["finished_at", "run_id"], kind="mergesort")
    dup = order.duplicated(list(cell_key), keep="last")
    if dup.any():
        winners = {norm_key(tuple(r)): (rid, fin) for r, rid, fin in zip(
            order.loc[~dup, list(cell_key)].itertuples(index=False), order.loc[~dup, "run_id"],
            order.loc[~dup, "finished_at"])}
        for _, row in order[dup].sort_values("run_id", kind="mergesort").iterrows():
            rid, fin = winners[norm_key(tuple(row[c] for c in cell_key))]
            if fin and fin != row["finished_at"]:
                why = f"run {rid} of the same cell finished later ({fin})"
            else:
                why = f"run {rid} of the same cell has the same or no finish time and the last run id"
            budget = row["budget"]
            what = f"ratio {row['ratio']:g}" + (f", budget {budget:g}" if np.isfinite(budget) else "")
            set_aside.append(f"Duplicate finished run {row['run_id']} of {row['dataset']} / {row['model']} / "
                             f"{row['strategy']} ({what}) seed {row['seed']} set aside: {why}.")
    return sort_runs(order[~dup])


def dmae_verdicts(summary: pd.DataFrame, rules: VerdictRules) -> List[str]:
    """Per summary row: the verdict word (stats.classify, margin rules.margin_pct) of its paired
    dMAE interval against full@1 ('' for the reference and without a paired seed). The
    interval is aggregate()'s (95 %)."""
    words = []
    for _, row in summary.iterrows():
        n = row.get("dmae_pct_paired", 0)
        n = int(n) if isinstance(n, (int, float)) and math.isfinite(n) else 0
        is_ref = row["strategy"] == FULL_LABEL and not math.isfinite(float(row.get("budget", np.nan)))
        if is_ref or n == 0:
            words.append("")
            continue
        iv = stats.Interval(float(row["dmae_pct_mean"]), float(row["dmae_pct_lo"]), float(row["dmae_pct_hi"]), n)
        words.append(stats.classify(iv, rules.margin_pct))
    return words


def build_report_data(results_dir, rules: Optional[VerdictRules] = None) -> ReportData:
    """Load results.csv, split finished/failed, attach speedups and aggregate over seeds
    (``rules``: margin, level and adjustment of the verdicts; default VerdictRules())."""
    results_dir = Path(results_dir)
    runs, present = read_results(results_dir)
    runs = report_attribution.tuned_runs(runs)  # tuning trials: each setting's trial chosen on validation
    table_key = table_key_for(present)
    group_key = group_key_for(table_key, present)
    notes: List[str] = []
    set_aside: List[str] = []
    is_finished = runs["status"] == FINISHED
    finished = _deduplicate(runs[is_finished], group_key + ("seed",), set_aside)
    finished = attach_speedups(finished, table_key).reset_index(drop=True)
    failed = runs[~is_finished].reset_index(drop=True)
    optional = tuple(q for q in AGGREGATED_OPTIONAL if q in present)
    summary = aggregate(finished, failed, group_key, optional)
    rules = rules or VerdictRules()
    summary["dmae_pct_verdict"] = dmae_verdicts(summary, rules)
    data = ReportData(results_dir, runs, finished, failed, summary,
                      ordered_strategies(runs) if len(runs) else [], notes, present, table_key, set_aside,
                      rules=rules)
    for key in data.table_keys():
        if (data.select(summary, key)["reference"] == "none").all():
            notes.append("No finished full-data run for {}: speedups, efficiency "
                         "and MAE change are left blank.".format(_key_text(data, key)))
    return data


def _key_text(data: ReportData, key: tuple) -> str:
    """``dataset / model (profile p)`` as in the notes of index.md."""
    p = data.key_parts(key)
    head = " / ".join(x for x in (p["dataset"], p["model"], p.get("optimizer", ""), p.get("workload", "")) if x)
    return f"{head} (profile {p['profile']})"


# ----------------------------------------------------------------------------- writing
def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    tmp.replace(path)
    return path


def _remove_stale_figures(fig_dir: Path, keep: set) -> None:
    """Delete PNG/PDF files in the report's own figures/ folder left by an earlier report."""
    if fig_dir.is_dir():
        for path in sorted(fig_dir.iterdir()):
            if path.suffix in (".png", ".pdf") and path.is_file() and path not in keep:
                path.unlink()


def write_report(results_dir, out_dir=None, figures: bool = True,
                 rules: Optional[VerdictRules] = None) -> Dict[str, Path]:
    """Write tables, summary, budget/TTA/profile reports, figures and index.md; return
    {relative name: path}.

    ``out_dir`` defaults to ``results_dir/report``; ``figures=False`` writes the text
    outputs only. Figure files of an earlier report that this one does not draw are
    removed. Every text output is byte-identical for the same results.csv (and curve
    files) whatever its row and column order. ``rules``: the verdicts' margin, level and
    p-value adjustment (default: 1 % of full@1's MAE, 95 %, Holm).
    """
    from stbench.benchmarks import report_budget, report_figures, report_summary, report_tables

    data = build_report_data(results_dir, rules)
    out = Path(out_dir) if out_dir is not None else Path(results_dir) / "report"
    out.mkdir(parents=True, exist_ok=True)
    written: Dict[str, Path] = {}
    texts = {
        "tables.md": report_tables.render_tables_md(data),
        "tables.tex": report_tables.render_tables_tex(data),
        "summary.csv": report_tables.render_summary_csv(data),
        "summary.md": report_tables.render_summary_md(data),
        "convergence.md": report_tables.render_convergence_md(data),
        "efficiency.md": report_tables.render_efficiency_md(data),
    }
    texts.update(report_budget.render_all(data))
    texts.update(report_summary.render_all(data))
    texts.update(report_attribution.render_all(data))  # only with plan-matched controls or tuning trials
    stale = out / "budget_summary.md"
    if "budget_summary.md" not in texts and stale.is_file():  # an earlier report's, now without budget runs
        stale.unlink()
    for name, text in texts.items():
        written[name] = _write_text(out / name, text)
    drawn = report_figures.write_figures(data, out / "figures") if figures else None
    for path in (drawn.paths if drawn else []) + (report_attribution.write_figures(data, out / "figures") if figures else []):
        written[path.relative_to(out).as_posix()] = path
    _remove_stale_figures(out / "figures", set(written.values()))
    index = report_tables.render_index_md(data, sorted(written), drawn and drawn.skipped,
                                          drawn.notes if drawn else ())
    written["index.md"] = _write_text(out / "index.md", index + incomplete_md(results_dir))
    return dict(sorted(written.items()))


def incomplete_runs(results_dir) -> List[Tuple[str, str]]:
    """(run id, reason) of the run directories of ``results_dir/runs`` that hold no usable
    result (unfinished, running, damaged: ResultsStore.incomplete); they are in no table."""
    from stbench.benchmarks.store import ResultsStore
    return ResultsStore(Path(results_dir)).incomplete()


def incomplete_md(results_dir) -> str:
    """index.md's section listing the incomplete run directories ('' when there are none)."""
    from stbench.benchmarks.report_tables import escape_md
    rows = incomplete_runs(results_dir)
    if not rows:
        return ""
    lines = ["", "## Incomplete run directories", "",
             f"{len(rows)} director{'y' if len(rows) == 1 else 'ies'} under runs/ hold no usable result and "
             f"are in no table:", ""]
    lines += [f"- `{rid}`: {escape_md(why)}" for rid, why in rows]
    return "\n".join(lines) + "\n"


def add_rules_arguments(p: argparse.ArgumentParser) -> None:
    """--margin, --adjust (the report's VerdictRules; the level stays 95 %)."""
    p.add_argument("--margin", type=float, default=None, metavar="PCT",
                   help=f"equivalence margin in %% of full@1's MAE (default {stats.DEFAULT_MARGIN_PCT:g})")
    p.add_argument("--adjust", choices=sorted(stats.ADJUSTMENTS), default=None,
                   help=f"p-value adjustment over the report's comparisons (default {stats.DEFAULT_ADJUST})")


def rules_of_args(args, base: Optional[VerdictRules] = None) -> VerdictRules:
    """``base`` (default VerdictRules()) with the flags given on the command line."""
    base = base or VerdictRules()
    return VerdictRules(margin_pct=args.margin if args.margin is not None else base.margin_pct,
                        level=base.level, adjust=args.adjust or base.adjust)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m stbench.benchmarks.report DIR [--out OUT]``: write the report, print the summary."""
    p = argparse.ArgumentParser(prog="python -m stbench.benchmarks.report", description=main.__doc__)
    p.add_argument("results_dir", help="directory holding results.csv and runs/")
    p.add_argument("--out", default=None, help="output directory (default RESULTS_DIR/report)")
    p.add_argument("--no-figures", action="store_true", help="write the tables only")
    add_rules_arguments(p)
    args = p.parse_args(argv)
    written = write_report(args.results_dir, args.out, figures=not args.no_figures, rules=rules_of_args(args))
    print(written["summary.md"].read_text(encoding="utf-8"))
    print(f"report: {written['index.md'].parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
