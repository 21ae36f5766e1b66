"""Grid runner: run every pending cell of a suite, resumably, then report.

Every cell is validated before the first run starts. A finished or failed cell is
skipped; a cell locked by another runner is skipped; a run that diverges (NaN/inf
loss) or raises is recorded as failed with its reason and the grid goes on. Ctrl-C
stops the grid; every run that finished before is already on disk.
"""
from __future__ import annotations

import dataclasses
import sys
import time
import traceback
from pathlib import Path
from typing import List, Optional

from benchmarks.config import REPO, RunSpec, load_suite, matches, parse_only
from benchmarks.engine import DivergenceError, train
from benchmarks.env import run_env
from benchmarks.store import ResultsStore


def _is_tty() -> bool:
    return sys.stderr.isatty()


def metrics_payload(spec: RunSpec, res) -> dict:
    ep = res.epochs
    passes = sum(e.sample_passes for e in ep)
    full = res.n_train * len(ep)
    return {
        "run_id": spec.run_id,
        "config_hash": spec.hash,
        "test": res.test,
        "test_per_step": res.test_per_step,
        "average": "pooled over all horizon steps (sum of errors / count of valid entries)",
        "val_mae_best": res.val_mae_best,
        "best_epoch": res.best_epoch,
        "epochs": len(ep),
        "params": res.params,
        "n_train": res.n_train,
        "train_seconds": sum(e.train_seconds for e in ep),
        "eval_seconds": sum(e.eval_seconds for e in ep),
        "pruner_seconds": sum(e.pruner_seconds for e in ep),
        "total_seconds": ep[-1].wall_seconds if ep else 0.0,
        "sample_passes": passes,
        "full_sample_passes": full,
        "steps": sum(e.steps for e in ep),
        "kept_fraction": passes / full if full else 1.0,
        "selected_digest": res.selected_digest,
    }


def execute(spec: RunSpec, store: ResultsStore, data_root=None, progress: bool = False) -> str:
    """Run one cell under its lock. Returns 'finished', 'failed', 'skipped' or 'locked'."""
    rid = spec.run_id
    if store.is_done(rid):
        return "skipped"
    lock = store.lock(rid)
    if not lock.acquire():
        return "locked"
    try:
        if store.is_done(rid):  # finished by another runner while we waited
            return "skipped"
        store.start(rid, spec.config, run_env(spec.config["seed"]))
        records: List[dict] = []

        def on_epoch(rec):
            d = dataclasses.asdict(rec)
            records.append(d)
            store.write_epoch(rid, records)

        try:
            res = train(spec.config, data_root=data_root, on_epoch=on_epoch, progress=progress)
        except DivergenceError as e:
            store.fail(rid, f"diverged: {e}")
            return "failed"
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # a crash in one cell must not stop the grid
            store.fail(rid, f"{type(e).__name__}: {e}", traceback.format_exc())
            return "failed"
        store.start(rid, spec.config, run_env(spec.config["seed"], res.data_files))
        store.finish(rid, metrics_payload(spec, res))
        return "finished"
    finally:
        lock.release()


def default_out(suite: dict) -> Path:
    return REPO / "results" / str(suite.get("out") or suite["name"])


def run_suite(path, profile: Optional[str] = None, seeds=None, only=None, dry_run: bool = False,
              out=None, data_root=None, retry_failed: bool = False, report: bool = True,
              quiet: bool = False) -> dict:
    suite, specs = load_suite(Path(path), profile=profile, seeds=seeds)
    filt = parse_only(only)
    specs = [s for s in specs if matches(s, filt)]
    out = Path(out) if out else default_out(suite)
    store = ResultsStore(out)
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    if dry_run:
        for s in specs:
            say(f"{store.status(s.run_id):9s} {s.run_id}  [{s.experiment}]")
        say(f"{len(specs)} runs ({sum(not store.is_done(s.run_id) for s in specs)} pending) -> {out}")
        return {"runs": len(specs), "out": out, "dry_run": True}
    if retry_failed:
        for s in specs:
            if store.status(s.run_id) == "failed":
                store.clear_failed(s.run_id)
    counts = {"finished": 0, "failed": 0, "skipped": 0, "locked": 0}
    tty = _is_tty() and not quiet
    bar = None
    if tty:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(specs), desc=f"grid {suite['name']}", unit="run")
    say(f"suite {suite['name']} (profile {suite['profile']}): {len(specs)} runs -> {out}")
    t0 = time.perf_counter()
    try:
        for s in specs:
            status = execute(s, store, data_root=data_root, progress=tty)
            counts[status] += 1
            if status in ("finished", "failed"):
                store.write_results_csv()
            if bar is not None:
                bar.set_postfix_str(f"{s.run_id[:40]} {status}")
                bar.update(1)
            elif status != "skipped":
                say(f"  {status:8s} {s.run_id}")
    finally:
        if bar is not None:
            bar.close()
        store.write_results_csv()
    say(f"done in {time.perf_counter() - t0:.1f}s: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    result = {"runs": len(specs), "out": out, **counts}
    if report:
        result["report"] = make_report(out, quiet=quiet)
    return result


def make_report(out: Path, quiet: bool = False) -> dict:
    from benchmarks.report import write_report

    paths = write_report(Path(out))
    if not quiet:
        summary = paths.get("summary.md") or paths.get("summary")
        if summary and Path(summary).exists():
            print(Path(summary).read_text())
        print(f"report: {Path(out) / 'report'}")
    return paths
