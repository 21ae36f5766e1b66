"""Reports from a results directory: speedups, aggregation over seeds, tables, figures.

Input (written by the results store)::

    DIR/results.csv               one row per run (the source of truth)
    DIR/runs/RUN_ID/curve.csv     per-epoch curve of one run (optional)

Output of :func:`write_report` (default ``DIR/report``)::

    tables.md, tables.tex         one table per (data set, model, profile)
    summary.csv, summary.md       one row per (data set, model, profile, strategy, ratio)
    convergence.md                per strategy: validation-MAE gain over the last 20 % of epochs
    efficiency.md                 per strategy: pruning efficiency across runs and within a run
    figures/*.png, figures/*.pdf  see benchmarks/report_figures.py
    index.md                      what was written, the grid, failed runs, skipped figures

Speedups of a finished run r, relative to the full-data run f of the same
(data set, model, seed, profile) -- or, when that seed has none, to the mean over
all full runs of the (data set, model, profile)::

    wall_speedup  = train_seconds_f / train_seconds_r        (PRIMARY: train loop only)
    pass_speedup  = sample_passes_f / sample_passes_r        (= ideal wall-clock speedup)
    passes_saved  = 1 - sample_passes_r / sample_passes_f
    step_speedup  = steps_f / steps_r
    efficiency    = wall_speedup / pass_speedup
    dmae_pct      = 100 * (mae_r / mae_f - 1)                (negative = better than full)

Per-run values are then averaged over seeds (mean, sample std with ddof=1).
Everything is sorted before any arithmetic, so the same rows in any order give
byte-identical tables.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

FULL_LABEL = "full"
FINISHED = "finished"
#: strategies in this order; others alphabetically after them; ablations after their parent
STRATEGY_ORDER = ("full", "random", "static", "infobatch", "stprune")
METRICS = ("mae", "rmse", "mape")
HORIZONS = (3, 6, 12)
METRIC_COLUMNS = tuple(METRICS) + tuple(f"{m}@{h}" for h in HORIZONS for m in METRICS)
TEXT_COLUMNS = ("run_id", "dataset", "model", "strategy", "pruner", "profile", "status", "error")
NUMERIC_COLUMNS = ("ratio", "seed", "params") + METRIC_COLUMNS + (
    "val_mae_best", "best_epoch", "epochs", "train_seconds", "eval_seconds", "pruner_seconds",
    "total_seconds", "sample_passes", "full_sample_passes", "steps", "kept_fraction",
)
REQUIRED_COLUMNS = TEXT_COLUMNS + NUMERIC_COLUMNS
#: a table / figure panel is one of these
TABLE_KEY = ("dataset", "model", "profile")
#: one aggregated row (a group of seeds) is one of these
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


def sort_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Total order: data set, model, profile, strategy order, ratio, seed, run id."""
    if df.empty:
        return df.reset_index(drop=True)
    rank = {s: i for i, s in enumerate(ordered_strategies(df))}
    key = df.assign(_rank=df["strategy"].map(rank))
    key = key.sort_values(["dataset", "model", "profile", "_rank", "ratio", "seed", "run_id"],
                          kind="mergesort")
    return key.drop(columns="_rank").reset_index(drop=True)


def load_results(results_dir) -> pd.DataFrame:
    """Read and validate ``results_dir/results.csv``; numbers as float, sorted (see sort_runs)."""
    path = Path(results_dir) / "results.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no results file {path}; expected the results store's long CSV")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw.columns = [c.strip() for c in raw.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; expected {list(REQUIRED_COLUMNS)}")
    df = pd.DataFrame({c: raw[c].astype(str).str.strip() for c in TEXT_COLUMNS})
    df["status"] = df["status"].str.lower()
    for col in NUMERIC_COLUMNS:
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
    return sort_runs(df)


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


# ----------------------------------------------------------------------------- speedups
def _ratio(num, den) -> np.ndarray:
    """num / den elementwise; NaN where either is missing or den <= 0."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(np.isfinite(den) & (den > 0) & np.isfinite(num), out, np.nan)


_REF_QUANTITIES = ("train_seconds", "sample_passes", "steps", "mae")


def attach_speedups(finished: pd.DataFrame) -> pd.DataFrame:
    """Add the reference used (``reference``: seed / mean / none) and SPEEDUP_COLUMNS.

    The reference of a run is the finished full run of its (data set, model, profile,
    seed); when that seed has none, the mean over the finished full runs of its
    (data set, model, profile); when there are none, every speedup is NaN.
    """
    df = finished.copy()
    ref = pd.DataFrame(np.nan, index=df.index, columns=list(_REF_QUANTITIES))
    kind = pd.Series("none", index=df.index, dtype=object)
    for key, rows in df.groupby(list(TABLE_KEY), sort=True):
        fulls = rows[rows["strategy"] == FULL_LABEL]
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


def aggregate(finished: pd.DataFrame, failed: pd.DataFrame) -> pd.DataFrame:
    """One row per GROUP_KEY: n, seeds, n_failed, reference, pruner and
    ``Q_mean`` / ``Q_std`` for every Q in AGGREGATED (finite values only)."""
    failed_counts = failed.groupby(list(GROUP_KEY), sort=True).size().to_dict() if len(failed) else {}
    records = []
    for key, rows in finished.groupby(list(GROUP_KEY), sort=True):
        rec = dict(zip(GROUP_KEY, key))
        rec["pruner"] = sorted(rows["pruner"])[0]
        rec["n"] = int(len(rows))
        rec["seeds"] = " ".join(str(s) for s in sorted(rows["seed"]))
        rec["n_failed"] = int(failed_counts.get(key, 0))
        kinds = set(rows["reference"])
        rec["reference"] = "none" if kinds == {"none"} else ("mean" if "mean" in kinds else "seed")
        for q in AGGREGATED:
            mean, std, _ = _mean_std(rows[q].to_numpy(dtype=float))
            rec[f"{q}_mean"], rec[f"{q}_std"] = mean, std
        records.append(rec)
    columns = list(GROUP_KEY) + ["pruner", "n", "seeds", "n_failed", "reference"] + [
        f"{q}_{s}" for q in AGGREGATED for s in ("mean", "std")]
    summary = pd.DataFrame.from_records(records, columns=columns)
    return sort_runs_like(summary, finished)


def sort_runs_like(summary: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Sort groups in the report order (the strategy order is taken from ``runs``)."""
    if summary.empty:
        return summary
    rank = {s: i for i, s in enumerate(ordered_strategies(runs))}
    key = summary.assign(_rank=summary["strategy"].map(rank))
    key = key.sort_values(["dataset", "model", "profile", "_rank", "ratio"], kind="mergesort")
    return key.drop(columns="_rank").reset_index(drop=True)


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
    _curves: Dict[str, Optional[pd.DataFrame]] = field(default_factory=dict)

    def curve(self, run_id: str) -> Optional[pd.DataFrame]:
        if run_id not in self._curves:
            self._curves[run_id] = load_curve(self.results_dir, run_id)
        return self._curves[run_id]

    def table_keys(self) -> List[tuple]:
        if self.summary.empty:
            return []
        return list(dict.fromkeys(map(tuple, self.summary[list(TABLE_KEY)].itertuples(index=False))))

    def select(self, frame: pd.DataFrame, key: tuple) -> pd.DataFrame:
        mask = np.ones(len(frame), dtype=bool)
        for col, value in zip(TABLE_KEY, key):
            mask &= (frame[col] == value).to_numpy()
        return frame[mask]


def _deduplicate(finished: pd.DataFrame, notes: List[str]) -> pd.DataFrame:
    """Keep one finished run per grid cell: the one with the last run id (noted)."""
    dup = finished.duplicated(list(CELL_KEY), keep="last")
    for _, row in finished[dup].iterrows():
        notes.append(f"Duplicate finished run {row['run_id']} of {row['dataset']} / {row['model']} / "
                     f"{row['strategy']} {row['ratio']:g} seed {row['seed']} ignored "
                     f"(kept the run with the last run id).")
    return finished[~dup]


def build_report_data(results_dir) -> ReportData:
    """Load results.csv, split finished/failed, attach speedups and aggregate over seeds."""
    results_dir = Path(results_dir)
    runs = load_results(results_dir)
    notes: List[str] = []
    is_finished = runs["status"] == FINISHED
    finished = _deduplicate(runs[is_finished], notes)
    finished = attach_speedups(finished).reset_index(drop=True)
    failed = runs[~is_finished].reset_index(drop=True)
    summary = aggregate(finished, failed)
    for key in (k for k, rows in summary.groupby(list(TABLE_KEY), sort=True)
                if (rows["reference"] == "none").all()):
        notes.append("No finished full-data run for {} / {} (profile {}): speedups, efficiency "
                     "and MAE change are left blank.".format(*key))
    return ReportData(results_dir, runs, finished, failed, summary,
                      ordered_strategies(runs) if len(runs) else [], notes)


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


def write_report(results_dir, out_dir=None, figures: bool = True) -> Dict[str, Path]:
    """Write tables, summary, figures and index.md; return {relative name: path}.

    ``out_dir`` defaults to ``results_dir/report``; ``figures=False`` writes the text
    outputs only. Figure files of an earlier report that this one does not draw are removed. Tables (md, tex, csv), summary.md and index.md are byte-identical for
    the same results.csv (and curve files) whatever its row and column order.
    """
    from benchmarks import report_figures, report_tables

    data = build_report_data(results_dir)
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
    for name, text in texts.items():
        written[name] = _write_text(out / name, text)
    drawn = report_figures.write_figures(data, out / "figures") if figures else None
    for path in (drawn.paths if drawn else []):
        written[path.relative_to(out).as_posix()] = path
    _remove_stale_figures(out / "figures", set(written.values()))
    index = report_tables.render_index_md(data, sorted(written), drawn and drawn.skipped,
                                          drawn.notes if drawn else ())
    written["index.md"] = _write_text(out / "index.md", index)
    return dict(sorted(written.items()))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m benchmarks.report DIR [--out OUT]``: write the report, print the summary."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.report", description=main.__doc__)
    p.add_argument("results_dir", help="directory holding results.csv and runs/")
    p.add_argument("--out", default=None, help="output directory (default RESULTS_DIR/report)")
    p.add_argument("--no-figures", action="store_true", help="write the tables only")
    args = p.parse_args(argv)
    written = write_report(args.results_dir, args.out, figures=not args.no_figures)
    print(written["summary.md"].read_text(encoding="utf-8"))
    print(f"report: {written['index.md'].parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
