"""Grid runner: run every pending cell of a suite, resumably, then report.

Every cell is validated before the first run starts. A finished or failed cell is
skipped; a cell locked by another runner is skipped; a run that diverges (NaN/inf
loss) or raises is recorded as failed with its reason and the grid goes on. Ctrl-C
stops the grid; every run that finished before is already on disk.

Who runs the cells is the launcher's business (benchmarks/launchers.py): ``local``
(this process, sequentially, as :func:`run_sequential`; or a pool of one worker per
GPU) or ``submitit`` (one SLURM job per pending cell). Every launcher calls the same
:func:`execute`. Under torchrun every rank walks the same grid: rank 0 decides skip /
lock for each cell and broadcasts it, all ranks train, rank 0 alone writes.
"""
from __future__ import annotations

import dataclasses
import errno
import sys
import time
import traceback
from pathlib import Path
from typing import List, Optional

from stbench.benchmarks import distributed
from stbench.benchmarks.config import (REPO, ConfigError, RunSpec, attach_data_identities, check_only, load_suite,
                               matches, parse_only)
from stbench.benchmarks.engine import DivergenceError, train, write_passgrid
from stbench.benchmarks.env import run_env
from stbench.benchmarks.launchers import LAUNCHERS, check_batch_split, launcher_settings
from stbench.benchmarks.store import ResultsStore, out_dir_problem


class StoreFull(OSError):
    """The disk filled up while a run was being written; the grid stops."""


def full_disk_message(where) -> str:
    """The one documented line of a full disk (README, "What bad input looks like")."""
    return (f"no space left on the device while writing {where}: the run is not recorded (finished runs "
            f"are kept); free space and run again")


def _is_tty() -> bool:
    return sys.stderr.isatty()


def metrics_payload(spec: RunSpec, res, run_id: Optional[str] = None) -> dict:
    """metrics.json: test metrics, timings, passes and, for budget runs, the budget reached.

    full_sample_passes = n E (the workload's full-data run, E = reference epochs), so
    kept_fraction = budget_reached = sample_passes / (n E).
    """
    from datetime import datetime, timezone

    ep = res.epochs
    passes = sum(e.sample_passes for e in ep)
    full = res.n_train * (res.reference_epochs or len(ep))
    budget = spec.config["strategy"].get("budget")
    return {
        "run_id": run_id or spec.run_id,
        "config_hash": spec.hash,
        **({"budget": budget, "budget_planned": res.budget_planned} if budget is not None else {}),
        "budget_reached": passes / full if full else 1.0,
        "reference_epochs": res.reference_epochs or len(ep),
        "finished_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "test": res.test,
        "test_per_step": res.test_per_step,
        "average": ("pooled over all horizon steps (sum of errors / count of valid entries); "
                    "test.*_stepmean: the mean of the per-step values"),
        "val_mae_best": res.val_mae_best,
        "best_epoch": res.best_epoch,
        "epochs": len(ep),
        "params": res.params,
        "n_train": res.n_train,
        "train_seconds": sum(e.train_seconds for e in ep),
        "eval_seconds": sum(e.eval_seconds for e in ep),
        "pruner_seconds": sum(e.pruner_seconds for e in ep),
        "pruner_setup_seconds": res.pruner_setup_seconds,
        "total_seconds": ep[-1].wall_seconds if ep else 0.0,
        "sample_passes": passes,
        "full_sample_passes": full,
        "steps": sum(e.steps for e in ep),
        "optimizer_steps": sum(e.steps for e in ep),
        **({"pass_grid_seconds": res.pass_grid_seconds} if res.pass_grid else {}),
        "kept_fraction": passes / full if full else 1.0,
        "selected_digest": res.selected_digest,
        **({"world_size": res.world_size} if res.world_size > 1 else {}),
    }


CLAIMS = ("run", "skipped", "locked")


def failure_reason(store: ResultsStore, spec: RunSpec) -> str:
    """': <reason>' of a failed run (its failed.json), else ''."""
    import json
    path = store.run_dir(store.locate(spec)) / "failed.json"
    if not path.is_file():
        return ""
    try:
        return ": " + str(json.loads(path.read_text()).get("error", "")).splitlines()[0][:300]
    except (OSError, ValueError, IndexError):
        return ""


def claim(store: ResultsStore, rid: str, lock) -> str:
    """'run' (``lock`` now held), 'skipped' (finished or failed) or 'locked' (another runner)."""
    if store.is_done(rid):
        return "skipped"
    if not lock.acquire():
        return "locked"
    if store.is_done(rid):  # finished by another runner while we waited
        lock.release()
        return "skipped"
    return "run"


def execute(spec: RunSpec, store: ResultsStore, data_root=None, progress: bool = False,
            dist: Optional[distributed.DistContext] = None) -> str:
    """Run one cell under its lock. Returns 'finished', 'failed', 'skipped' or 'locked'.

    Under DDP (``dist.active``) rank 0 claims the cell and broadcasts the verdict; only
    rank 0 writes. A crash other than divergence then stops every rank (re-raised): the
    other ranks would otherwise wait forever in the next collective.
    """
    dist = dist or distributed.current()
    from stbench.plugins import add_paths
    add_paths(getattr(spec, "plugin_paths", ()))  # a worker process imports an outside strategy from there
    if spec.data_error:  # e.g. a cluster job whose data lives where it runs, not where it was submitted
        attach_data_identities([spec], data_root)
        if spec.data_error:
            raise ConfigError(spec.data_error)
    rid = store.locate(spec)
    main = dist.is_main
    lock = store.lock(rid)
    verdict = claim(store, rid, lock) if main else None
    if dist.active:
        verdict = dist.broadcast_choice(verdict, CLAIMS)
    if verdict != "run":
        return verdict
    try:
        if main:
            store.start(rid, spec.config, run_env(spec.config["seed"]))
            store.write_identity(rid, spec)
        records: List[dict] = []

        def on_epoch(rec):
            d = dataclasses.asdict(rec)
            records.append(d)
            store.write_epoch(rid, records)

        try:
            res = train(spec.config, data_root=data_root, on_epoch=on_epoch if main else None,
                        progress=progress and main, dist=dist)
        except DivergenceError as e:  # seen by every rank alike (the loss is all-gathered)
            if main:
                store.fail(rid, f"diverged: {e}")
            return "failed"
        except (KeyboardInterrupt, SystemExit):
            raise
        except OSError as e:
            if e.errno == errno.ENOSPC:  # the disk is full: stop the grid, nothing half-written
                raise StoreFull(full_disk_message(store.run_dir(rid))) from None
            if main:
                store.fail(rid, f"{type(e).__name__}: {e}", traceback.format_exc())
            if dist.active:
                raise
            return "failed"
        except Exception as e:  # a crash in one cell must not stop the grid
            if main:
                store.fail(rid, f"{type(e).__name__}: {e}", traceback.format_exc())
            if dist.active:
                raise
            return "failed"
        if main:
            try:
                store.start(rid, spec.config, run_env(spec.config["seed"], res.data_files))
                if res.pass_grid:  # before metrics.json, which marks the run done
                    write_passgrid(store.run_dir(rid) / "passgrid.csv", res.pass_grid)
                store.finish(rid, metrics_payload(spec, res, rid))
            except OSError as e:
                if e.errno == errno.ENOSPC:
                    raise StoreFull(full_disk_message(store.run_dir(rid))) from None
                raise
        return "finished"
    finally:
        lock.release()


def default_out(suite: dict) -> Path:
    """results/<name> of the checkout; for an installed wheel, of the working directory."""
    base = REPO if (REPO / "pyproject.toml").is_file() else Path.cwd()
    return base / "results" / str(suite.get("out") or suite["name"])


def run_sequential(specs: List[RunSpec], store: ResultsStore, data_root=None, say=print,
                   tty: bool = False, desc: str = "grid") -> dict:
    """Every cell in grid order in this process (under torchrun: on every rank, in step)."""
    main = distributed.current().is_main
    counts = {"finished": 0, "failed": 0, "skipped": 0, "locked": 0}
    bar = None
    if tty:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(specs), desc=desc, unit="run")
    stopping = False
    try:
        for s in specs:
            try:
                status = execute(s, store, data_root=data_root, progress=tty)
                if status in ("finished", "failed") and main:
                    store.write_results_csv()
            except StoreFull:
                stopping = True
                raise
            except OSError as e:
                stopping = True
                if e.errno == errno.ENOSPC:
                    raise StoreFull(full_disk_message(store.run_dir(s.run_id))) from None
                raise
            counts[status] += 1
            if bar is not None:
                bar.set_postfix_str(f"{s.run_id[:40]} {status}")
                bar.update(1)
            elif status != "skipped":
                say(f"  {status:8s} {s.run_id}" + failure_reason(store, s))
    finally:
        if bar is not None:
            bar.close()
        if main:
            try:
                store.write_results_csv()
            except OSError as e:
                if not stopping:  # else the error that stops the grid is the one to show
                    if e.errno == errno.ENOSPC:
                        raise StoreFull(full_disk_message(store.root / "results.csv")) from None
                    raise
    return counts


def run_suite(path, profile: Optional[str] = None, seeds=None, only=None, dry_run: bool = False,
              out=None, data_root=None, retry_failed: bool = False, report: bool = True,
              quiet: bool = False, launcher: str = "local", launch: Optional[dict] = None,
              wait: bool = True, baselines=None, rerun: bool = False) -> dict:
    """Run a suite's pending cells with ``launcher`` (settings: the suite's ``launcher:`` block
    overridden by ``launch``), then write results.csv and the report.

    ``wait=False`` (submitit): return once the jobs are submitted; no report.
    ``baselines``: a results directory whose finished cells of this suite (same identity) are
    copied in and not run (benchmarks/baselines.py). ``rerun``: the selected cells run again
    even when finished (their old directories move to OUT/replaced/).
    """
    devices = "note" if dry_run else "error" if launcher == "local" else "off"  # where the cells run
    suite, specs = load_suite(Path(path), profile=profile, seeds=seeds, data_root=data_root, devices=devices)
    settings = launcher_settings(suite, launch, where=str(path))
    suite_rules(suite, path)  # a bad report: block fails before the first run
    if launcher not in LAUNCHERS:
        raise ConfigError(f"--launcher {launcher!r} unknown; valid choices: {', '.join(LAUNCHERS.names())}")
    filt = parse_only(only)
    check_only(specs, filt)
    specs = [s for s in specs if matches(s, filt)]
    dist = distributed.current()
    if dist.active:
        if launcher != "local" or (settings["workers"] or 1) > 1 or settings["gpus"] is not None:
            raise ConfigError("under torchrun every process trains the same run: use the local launcher "
                              "without --workers/--gpus (torchrun's --nproc_per_node sets the processes)")
        check_batch_split(specs, dist.world, "the number of torchrun processes")
    out_flag = out is not None
    out = Path(out) if out else default_out(suite)
    bad_out = out_dir_problem(out)
    if bad_out:
        raise ConfigError(f"--out {bad_out}" if out_flag else f"{path}: results directory {bad_out}")
    store = ResultsStore(out)
    quiet = quiet or not dist.is_main
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    reused: set = set()
    if rerun and not dry_run and dist.is_main:
        moved = [store.set_aside(store.locate(s)) for s in specs if store.status(store.locate(s)) != "pending"]
        if moved:
            say(f"--rerun: {len(moved)} finished or failed cell(s) set aside under {out / 'replaced'}")
    elif baselines is not None and dist.is_main:
        from stbench.benchmarks.baselines import adopt
        reused = set(adopt(specs, store, baselines, dry_run=dry_run, say=say)["reused"])
    dist.barrier()
    if dry_run:
        for note in suite.get("validation_notes") or ():
            say(f"note: {note}")
        for s in specs:
            status = "no-data" if s.data_error else store.status(store.locate(s))
            status = "baseline" if store.locate(s) in reused and status == "pending" else status
            say(f"{status:9s} {store.locate(s)}  [{s.experiment}]")
        missing = sorted({s.data_error for s in specs if s.data_error})
        for m in missing:
            say(f"missing data: {m}")
        say(f"{len(specs)} runs ({sum(not store.is_done(store.locate(s)) and store.locate(s) not in reused for s in specs)} pending"
            + (f", {sum(bool(s.data_error) for s in specs)} without their data files" if missing else "")
            + f") -> {out}")
        return {"runs": len(specs), "out": out, "dry_run": True, "missing_data": missing}
    for s in specs:  # a cluster job computes its data identity where it runs (execute)
        if s.data_error and launcher == "local":
            raise ConfigError(s.data_error)
    if retry_failed and dist.is_main:
        for s in specs:
            if store.status(store.locate(s)) == "failed":
                store.clear_failed(store.locate(s))
    tty = _is_tty() and not quiet
    say(f"suite {suite['name']} (profile {suite['profile']}): {len(specs)} runs -> {out}")
    t0 = time.perf_counter()
    counts = LAUNCHERS.get(launcher)(specs, store, settings, suite=suite, data_root=data_root, say=say,
                                     tty=tty, wait=wait)
    say(f"done in {time.perf_counter() - t0:.1f}s: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    n_failed = sum(store.status(store.locate(s)) == "failed" for s in specs)
    if n_failed and not retry_failed:
        say(f"{n_failed} cell(s) of this grid are recorded as failed (reasons above and in "
            f"{out / 'report' / 'index.md'}); rerun them with --retry-failed")
    result = {"runs": len(specs), "out": out, **counts}
    dist.barrier()
    if report and wait and dist.is_main:
        result["report"] = make_report(out, quiet=quiet, rules=suite_rules(suite, path))
    return result


def suite_rules(suite: dict, where) -> "VerdictRules":
    """The report's verdict rules from the suite's ``report:`` block (margin, adjust)."""
    from stbench.benchmarks.report import rules_from
    try:
        return rules_from(suite.get("report"), f"{where}.report")
    except ValueError as e:
        raise ConfigError(str(e)) from None


def make_report(out: Path, quiet: bool = False, rules=None) -> dict:
    """Write the report of ``out`` (``rules``: report.VerdictRules, default margin 1 %, Holm)
    and, unless ``quiet``, print summary.md's numbers with tables.md's trust marks."""
    from stbench.benchmarks.report import incomplete_runs, write_report

    paths = write_report(Path(out), rules=rules)
    if not quiet:  # summary.md's numbers with tables.md's trust marks and workload column
        from stbench.benchmarks.report import build_report_data
        from stbench.benchmarks.report_console import render_console_summary
        print(render_console_summary(build_report_data(Path(out))))
        for rid, why in incomplete_runs(out):  # in no table: say so (index.md lists them too)
            print(f"incomplete run directory {Path(out) / 'runs' / rid}: {why}")
        print(f"report: {Path(out) / 'report'}")
    return paths
