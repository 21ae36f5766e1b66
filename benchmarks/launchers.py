"""Launchers: who runs a suite's pending cells (``run SUITE.yaml --launcher NAME``).

Every launcher hands each cell to :func:`benchmarks.runner.execute`, so results land in
the same results store and the skip-if-finished resume and per-run flock locks hold
whatever ran them.

- ``local`` (default): this process runs the cells one after another (today's
  behaviour). With ``workers`` / ``gpus``: a pool of worker processes, one per GPU with
  CUDA_VISIBLE_DEVICES set to that GPU, each running its cells one at a time, so no two
  timed runs ever share a GPU. On a machine without GPUs ``workers: K`` starts K CPU
  workers that share the cores (their wall-clock timings then interfere). With
  ``isolate``: still one cell at a time, but each in a fresh spawned process, so no run
  inherits the allocator, caches or thread pools an earlier run left in the process
  (drift in the machine's own speed between runs remains).
- ``submitit``: one job per pending cell, submitted as one SLURM job array through
  ``submitit.AutoExecutor`` (``cluster: local`` runs the same jobs as local
  subprocesses, ``debug`` in this process). Logs go to ``OUT/submitit/``. The
  submitting process waits for the jobs (unless ``wait=False``), then the runner writes
  results.csv and the report. A preempted job is requeued and restarts its cell; a job
  that runs out of time is not (raise ``time_min``) and its cell stays pending.

Settings come from the suite's ``launcher:`` block (benchmarks/config.py
LAUNCHER_DEFAULTS), overridden by command-line flags.
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from stbench.benchmarks import distributed
from stbench.benchmarks.config import REPO, ConfigError, RunSpec, check_launcher
from stbench.registry import Registry
from stbench.benchmarks.store import ResultsStore

LAUNCHERS: Registry = Registry("launcher")


def check_batch_split(specs: List[RunSpec], world: int, what: str) -> None:
    """Fail before anything runs if a run's global batch cannot be split over ``world`` processes."""
    for s in specs:
        bs = s.config["train"]["batch_size"]
        if bs % world:
            raise ConfigError(f"{s.run_id}: train.batch_size={bs} is the global batch and must be divisible "
                              f"by {what}={world}")


def launcher_settings(suite: dict, overrides: Optional[dict] = None, where: str = "suite") -> dict:
    """The suite's (validated) ``launcher:`` block with the non-None ``overrides`` on top."""
    base = dict(suite.get("launcher") or {})
    base.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return check_launcher(base, f"{where}: launcher settings (suite block + command-line flags)")


# ----------------------------------------------------------------------------- local

def visible_gpus() -> List[str]:
    """GPU ids this process may use: CUDA_VISIBLE_DEVICES if set, else every CUDA device."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and not g.strip().startswith("-")]
    import torch
    return [str(i) for i in range(torch.cuda.device_count())]


def pool_slots(workers: Optional[int], gpus) -> Optional[List[Optional[str]]]:
    """One entry per worker: its GPU id (CUDA_VISIBLE_DEVICES) or None (a CPU worker).

    None: no pool, run sequentially in this process (``workers`` unset or 1, ``gpus`` unset).
    ``gpus``: "all" (every visible GPU) or a list of ids. ``workers`` alone uses the first
    ``workers`` visible GPUs, or CPU workers where there is no GPU. Never more workers
    than GPUs: two timed runs must not share one.
    """
    if gpus is None and (workers or 1) == 1:
        return None
    if gpus is None:
        ids = visible_gpus()
        if not ids:
            return [None] * int(workers)
    else:
        ids = visible_gpus() if gpus == "all" else [str(g) for g in gpus]
        if not ids:
            raise ConfigError("--gpus: no GPU is visible (CUDA_VISIBLE_DEVICES / torch.cuda); "
                              "run without --gpus for one sequential worker")
    n = int(workers or len(ids))
    if n > len(ids):
        raise ConfigError(f"--workers {n} but only {len(ids)} GPU(s) ({', '.join(ids)}): one worker per GPU, "
                          f"never two timed runs on one GPU")
    return ids[:n]


def _pin(slot: Optional[str], threads: int) -> None:
    """Pin this (new) process to GPU ``slot`` before CUDA starts, or, for a CPU slot, to ``threads``."""
    if slot is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = slot
    else:
        import torch
        torch.set_num_threads(threads)


def _bind_slot(slots, threads: int) -> None:
    """Pool worker initializer: take one slot from the queue and pin to it.

    A blocking get: a multiprocessing queue is fed by a background thread, so a slot put
    just before the pool started may not be readable yet (``get_nowait`` raced on it).
    """
    _pin(slots.get(timeout=120), threads)


def run_pool(fn: Callable, tasks: Sequence[tuple], slots: Sequence[Optional[str]],
             on_result: Callable[[int, object, Optional[BaseException]], None], fresh: bool = False) -> None:
    """Run ``fn(*task)`` for every task on ``len(slots)`` spawned workers, one slot each.

    Each worker holds its slot for life and runs one task at a time. ``fresh``: one slot
    only, and a new process for every task (``max_tasks_per_child=1``) on that slot, with
    this process's torch thread count. ``on_result(i, result, error)`` is called in this
    process as tasks complete. Ctrl-C cancels what has not started.
    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    if fresh:
        if len(slots) != 1:
            raise ValueError(f"fresh processes per task need exactly one slot, got {len(slots)}")
        import torch
        ex = ProcessPoolExecutor(1, mp_context=ctx, max_tasks_per_child=1, initializer=_pin,
                                 initargs=(slots[0], torch.get_num_threads()))
    else:
        queue = ctx.Queue()
        for s in slots:
            queue.put(s)
        threads = max(1, (os.cpu_count() or 1) // len(slots))
        ex = ProcessPoolExecutor(len(slots), mp_context=ctx, initializer=_bind_slot, initargs=(queue, threads))
    try:
        futures = {ex.submit(fn, *t): i for i, t in enumerate(tasks)}
        for f in as_completed(futures):
            err = f.exception()
            on_result(futures[f], None if err else f.result(), err)
    except BaseException:
        ex.shutdown(wait=True, cancel_futures=True)
        raise
    ex.shutdown(wait=True)


def _pool_cell(spec: RunSpec, out: str, data_root=None) -> str:
    from stbench.benchmarks.runner import execute
    return execute(spec, ResultsStore(out), data_root=data_root)


def _pool_grid(specs: List[RunSpec], store: ResultsStore, slots: List[Optional[str]], data_root, say, tty,
               desc: str, fresh: bool = False) -> dict:
    pending = [s for s in specs if not store.is_done(store.locate(s))]
    counts = {"finished": 0, "failed": 0, "skipped": len(specs) - len(pending), "locked": 0}
    where = ", ".join(f"GPU {s}" if s is not None else "CPU" for s in slots)
    say(f"local: one cell at a time, each in a fresh process, on {where}" if fresh
        else f"local pool: {len(slots)} workers on {where}")
    bar = None
    if tty:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(pending), desc=desc, unit="run")

    def on_result(i, status, err):
        spec = pending[i]
        if err is not None:  # the worker died: the cell stays pending
            status = "lost"
            say(f"  lost     {spec.run_id}: {type(err).__name__}: {err}")
        counts[status] = counts.get(status, 0) + 1
        if status in ("finished", "failed"):
            store.write_results_csv()
        if bar is not None:
            bar.set_postfix_str(f"{spec.run_id[:40]} {status}")
            bar.update(1)
        elif status not in ("skipped", "lost"):
            say(f"  {status:8s} {spec.run_id}")

    try:
        if pending:
            run_pool(_pool_cell, [(s, str(store.root), data_root) for s in pending], slots, on_result, fresh=fresh)
    finally:
        if bar is not None:
            bar.close()
        store.write_results_csv()
    return counts


@LAUNCHERS.register("local")
def launch_local(specs: List[RunSpec], store: ResultsStore, settings: dict, *, suite: dict, data_root=None,
                 say=print, tty: bool = False, wait: bool = True) -> dict:
    """Sequentially in this process, or on a pool of one worker per GPU (``workers``/``gpus``),
    or (``isolate``) sequentially with each cell in a fresh process."""
    from stbench.benchmarks.runner import run_sequential

    slots = pool_slots(settings["workers"], settings["gpus"])
    desc = f"grid {suite['name']}"
    if settings["isolate"]:
        if slots is not None and len(slots) > 1:
            raise ConfigError(f"launcher.isolate runs one cell at a time, each in a fresh process; it cannot be "
                              f"combined with a pool of {len(slots)} workers (drop --workers/--gpus, or name one GPU)")
        return _pool_grid(specs, store, slots or [None], data_root, say, tty, desc, fresh=True)
    if slots is None:
        return run_sequential(specs, store, data_root=data_root, say=say, tty=tty, desc=desc)
    return _pool_grid(specs, store, slots, data_root, say, tty, desc)


# ----------------------------------------------------------------------------- submitit

class CellJob:
    """What each submitit job runs: one cell through runner.execute.

    With ``tasks_per_job`` > 1 every task of the job is one DDP rank of the same run.
    ``checkpoint`` makes submitit requeue a preempted job (the cell restarts from scratch).
    """

    def __init__(self, threads: Optional[int] = None):
        self.threads = threads

    def __call__(self, spec: RunSpec, out: str, data_root=None) -> str:
        from stbench.benchmarks.runner import execute

        if self.threads:
            import torch
            torch.set_num_threads(self.threads)
        with distributed.submitit_session() as dist:
            return execute(spec, ResultsStore(out), data_root=data_root, dist=dist)

    def checkpoint(self, *args, **kwargs):
        import submitit
        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def make_executor(out: Path, settings: dict, name: str):
    """A submitit.AutoExecutor for ``settings`` (logs: OUT/submitit/<job id>_<task>_log.{out,err})."""
    import submitit

    cluster = settings["cluster"]
    # max_num_timeout=0: a job that runs out of time is not requeued (it would restart its cell)
    ex = submitit.AutoExecutor(folder=Path(out) / "submitit", cluster=cluster,
                               slurm_max_num_timeout=0, local_max_num_timeout=0)
    # a checkout's root on the jobs' path (an installed wheel is found without it)
    setup = ([f"export PYTHONPATH={REPO}${{PYTHONPATH:+:$PYTHONPATH}}"] if (REPO / "pyproject.toml").is_file()
             else []) + list(settings["setup"])
    ex.update_parameters(
        name=settings["job_name"] or f"stbench-{name}",
        timeout_min=settings["time_min"],
        nodes=1,
        tasks_per_node=settings["tasks_per_job"],
        cpus_per_task=max(1, settings["cpus_per_job"] // settings["tasks_per_job"]),
        gpus_per_node=settings["gpus_per_job"],
        mem_gb=settings["mem_gb"],
        slurm_partition=settings["partition"],
        slurm_array_parallelism=settings["array_parallelism"],
        slurm_account=settings["account"],
        slurm_qos=settings["qos"],
        slurm_constraint=settings["constraint"],
        slurm_setup=setup,
        slurm_additional_parameters=dict(settings["slurm_extra"]) or None,
        local_setup=setup,
    )
    return ex


def _abs(path) -> Optional[str]:
    return None if path is None else str(Path(path).expanduser().resolve())


@LAUNCHERS.register("submitit")
def launch_submitit(specs: List[RunSpec], store: ResultsStore, settings: dict, *, suite: dict,
                    data_root=None, say=print, tty: bool = False, wait: bool = True) -> dict:
    """One job per pending cell as a job array; wait for them (unless ``wait=False``)."""
    import submitit

    tasks, cluster = settings["tasks_per_job"], settings["cluster"]
    if tasks > 1:
        check_batch_split(specs, tasks, "launcher.tasks_per_job")
        if settings["gpus_per_job"] not in (0, tasks):
            raise ConfigError(f"launcher.gpus_per_job={settings['gpus_per_job']} with tasks_per_job={tasks}: "
                              f"a multi-task job runs one DDP rank per GPU, so give as many GPUs as tasks (or 0)")
    if not wait and cluster == "debug":
        raise ConfigError("--no-wait with cluster 'debug': debug jobs run inside this process when awaited")
    pending = [s for s in specs if not store.is_done(store.locate(s))]
    counts = {"finished": 0, "failed": 0, "skipped": len(specs) - len(pending), "locked": 0, "lost": 0}
    if not pending:
        say("nothing to submit: every cell is finished or failed")
        return counts
    out = _abs(store.root)
    droot = _abs(data_root)
    if droot is None and os.environ.get("STBENCH_DATA"):
        droot = _abs(os.environ["STBENCH_DATA"])
    executor = make_executor(Path(out), settings, suite["name"])
    threads = max(1, settings["cpus_per_job"] // tasks)
    jobs = executor.map_array(CellJob(threads), pending, [out] * len(pending), [droot] * len(pending))
    by_id = {j.job_id: s for j, s in zip(jobs, pending)}
    what = f"array {jobs[0].job_id.split('_')[0]}" if cluster == "slurm" else "jobs " + ", ".join(by_id)
    say(f"submitted {len(jobs)} job(s) to {cluster} ({what}); logs: {Path(out) / 'submitit'}")
    if not wait:
        say(f"when they are done: python run_benchmark.py report {out}")
        return {"skipped": counts["skipped"], "submitted": len(jobs)}
    bar = None
    if tty:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(jobs), desc=f"jobs {suite['name']}", unit="job")
    try:
        for job in submitit.helpers.as_completed(jobs, poll_frequency=15 if cluster == "slurm" else 0.5):
            spec = by_id[job.job_id]
            try:
                status = job.results()[0]  # task 0's (rank 0's) return value
            except Exception as e:  # the job died (time limit, node failure, cancelled): cell stays pending
                status = "lost"
                first = str(e).strip().splitlines()[0] if str(e).strip() else ""
                say(f"  lost     {spec.run_id}: job {job.job_id} {type(e).__name__}: {first} "
                    f"(log {job.paths.stderr})")
            counts[status] = counts.get(status, 0) + 1
            if bar is not None:
                bar.set_postfix_str(f"{spec.run_id[:40]} {status}")
                bar.update(1)
            elif status != "lost":
                say(f"  {status:8s} {spec.run_id} (job {job.job_id})")
    except KeyboardInterrupt:
        say(f"stopped waiting; the submitted jobs go on (cancel them with scancel / kill {', '.join(by_id)}); "
            f"results so far: python run_benchmark.py report {out}")
        raise
    finally:
        if bar is not None:
            bar.close()
        store.write_results_csv()
    return counts
