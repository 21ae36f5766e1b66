"""Launchers: the suite's launcher block and flags, the local GPU pool, and submitit job
arrays through submitit's local executor (the same code path as on SLURM)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from stbench.benchmarks.commands import _launch_overrides
from stbench.benchmarks.config import ConfigError, load_suite
from stbench.benchmarks.launchers import launcher_settings, pool_slots, run_pool
from stbench.benchmarks.runner import run_suite

SMOKE = """
name: fanout
profile: smoke
datasets: [SYNTHETIC]
models: [stid]
strategies: [full, random, infobatch]
ratios: [0.5]
seeds: [0]
dataset: {max_steps: 300}
train: {epochs: 1}
launcher: {cpus_per_job: 1, time_min: 10}
"""
RUN_FILES = ("config.yaml", "metrics.json", "timing.json", "curve.csv", "env.json")


def write(tmp: Path, text: str, name: str = "s.yaml") -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def assert_complete(out: Path, n: int) -> dict:
    runs = sorted(d for d in (out / "runs").iterdir() if d.is_dir())
    assert len(runs) == n
    for d in runs:
        for f in RUN_FILES:
            assert (d / f).is_file(), f"{d.name} lacks {f}"
    lines = (out / "results.csv").read_text().splitlines()
    assert len(lines) == n + 1 and all(",finished," in ln for ln in lines[1:])
    return {d.name: (d / "metrics.json").stat().st_mtime_ns for d in runs}


# ----------------------------------------------------------------------------- settings

def test_launcher_block_is_validated(tmp_path):
    with pytest.raises(ConfigError, match=r"s\.yaml\.launcher: unknown key 'partiton'; valid keys: .*partition"):
        load_suite(write(tmp_path, SMOKE.replace("cpus_per_job: 1", "partiton: gpu")))
    with pytest.raises(ConfigError,
                       match=r"launcher\.cluster: unknown cluster 'pbs'; valid choices: slurm, local, debug"):
        load_suite(write(tmp_path, SMOKE.replace("cpus_per_job: 1", "cluster: pbs")))
    with pytest.raises(ConfigError, match=r"launcher\.time_min: expected int"):
        load_suite(write(tmp_path, SMOKE.replace("time_min: 10", "time_min: soon")))
    with pytest.raises(ConfigError, match=r"launcher\.gpus_per_job: must be >= 0"):
        load_suite(write(tmp_path, SMOKE.replace("cpus_per_job: 1", "gpus_per_job: -1")))
    suite, _ = load_suite(write(tmp_path, SMOKE))
    assert suite["launcher"]["cpus_per_job"] == 1 and suite["launcher"]["cluster"] == "slurm"


def test_flags_override_the_suite_block(tmp_path):
    from stbench.benchmarks.cli import build_parser

    suite, _ = load_suite(write(tmp_path, SMOKE.replace("cpus_per_job: 1", "partition: cpu")))
    args = build_parser().parse_args(["run", "x.yaml", "--launcher", "submitit", "--partition", "gpu",
                                      "--array-parallelism", "4", "--gpus"])
    s = launcher_settings(suite, _launch_overrides(args))
    assert (s["partition"], s["array_parallelism"], s["time_min"], s["gpus"]) == ("gpu", 4, 10, "all")
    args = build_parser().parse_args(["run", "x.yaml", "--time-min", "0"])
    with pytest.raises(ConfigError, match="time_min: must be >= 1"):
        launcher_settings(suite, _launch_overrides(args))


def test_pool_slots(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert pool_slots(None, None) is None and pool_slots(1, None) is None  # today's sequential default
    assert pool_slots(None, "all") == ["2", "5"]
    assert pool_slots(1, "all") == ["2"]
    assert pool_slots(2, None) == ["2", "5"]
    assert pool_slots(None, [7]) == ["7"]
    with pytest.raises(ConfigError, match="never two timed runs on one GPU"):
        pool_slots(3, None)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert pool_slots(2, None) == [None, None]  # no GPU: CPU workers
    with pytest.raises(ConfigError, match="no GPU is visible"):
        pool_slots(None, "all")


# ----------------------------------------------------------------------------- local pool

def worker_identity(task: int, barrier=None):
    if barrier is not None and task < 2:  # the first two tasks meet: both workers are busy at once
        barrier.wait(timeout=120)
    return os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES")


def test_pool_pins_each_worker_to_one_gpu():
    import multiprocessing as mp
    seen = {}
    with mp.get_context("spawn").Manager() as manager:
        barrier = manager.Barrier(2)
        run_pool(worker_identity, [(i, barrier) for i in range(6)], ["3", "5"],
                 lambda i, res, err: seen.__setitem__(i, err or res))
    assert sorted(seen) == list(range(6))
    gpu_of = {}
    for pid, gpu in seen.values():
        assert gpu_of.setdefault(pid, gpu) == gpu  # a worker keeps its GPU
    assert sorted(gpu_of.values()) == ["3", "5"]  # one worker per GPU, no GPU shared


def test_local_pool_runs_the_grid(tmp_path):
    suite = write(tmp_path, SMOKE.replace("[full, random, infobatch]", "[full, random]"))
    out = tmp_path / "out"
    res = run_suite(suite, out=out, quiet=True, report=False, launch={"gpus": ["3", "5"]})
    assert res["finished"] == 2
    assert_complete(out, 2)
    res = run_suite(suite, out=out, quiet=True, report=False, launch={"workers": 2})
    assert res["skipped"] == 2 and res["finished"] == 0


def test_fresh_pool_starts_a_new_process_per_task():
    seen = {}
    run_pool(worker_identity, [(i,) for i in range(3)], [None], lambda i, res, err: seen.__setitem__(i, err or res),
             fresh=True)
    pids = {pid for pid, _ in seen.values()}
    assert len(pids) == 3 and os.getpid() not in pids
    with pytest.raises(ValueError, match="exactly one slot"):
        run_pool(worker_identity, [(0,)], [None, None], lambda *a: None, fresh=True)


def test_isolated_grid_matches_the_in_process_grid(tmp_path, monkeypatch):
    from stbench.benchmarks.cli import build_parser

    suite = write(tmp_path, SMOKE.replace("[full, random, infobatch]", "[full, random]"))
    res = run_suite(suite, out=tmp_path / "iso", quiet=True, report=False, launch={"isolate": True})
    assert res["finished"] == 2
    run_suite(suite, out=tmp_path / "seq", quiet=True, report=False)
    for rid in assert_complete(tmp_path / "iso", 2):
        iso, seq = (json.loads((tmp_path / d / "runs" / rid / "metrics.json").read_text()) for d in ("iso", "seq"))
        assert iso["test"] == seq["test"] and iso["selected_digest"] == seq["selected_digest"]
    # the flag, the suite block and their checks
    args = build_parser().parse_args(["run", "x.yaml", "--isolate"])
    assert launcher_settings({}, _launch_overrides(args))["isolate"] is True
    assert launcher_settings({"launcher": {"isolate": True}}, _launch_overrides(build_parser().parse_args(
        ["run", "x.yaml"])))["isolate"] is True  # no flag: the suite's block stands
    with pytest.raises(ConfigError, match=r"launcher\.isolate: expected bool"):
        load_suite(write(tmp_path, SMOKE.replace("cpus_per_job: 1", "isolate: 1"), "bad.yaml"))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(ConfigError, match="isolate runs one cell at a time.*pool of 2 workers"):
        run_suite(suite, out=tmp_path / "x", quiet=True, report=False, launch={"isolate": True, "workers": 2})


# ----------------------------------------------------------------------------- submitit

def test_submitit_local_array_resumes(tmp_path):
    suite = write(tmp_path, SMOKE)
    out = tmp_path / "out"
    res = run_suite(suite, out=out, quiet=True, launcher="submitit", launch={"cluster": "local"})
    assert (res["finished"], res["failed"], res["lost"]) == (3, 0, 0)
    first = assert_complete(out, 3)
    logs = sorted((out / "submitit").glob("*_0_log.out"))
    assert len(logs) == 3  # one job per cell
    assert (out / "report" / "tables.md").is_file()

    # a cell that did not finish (its metrics.json missing) is the only one resubmitted
    _, specs = load_suite(suite)
    lost = specs[1].run_id
    (out / "runs" / lost / "metrics.json").unlink()
    res = run_suite(suite, out=out, quiet=True, report=False, launcher="submitit",
                    launch={"cluster": "local"}, wait=False)
    assert res["submitted"] == 1 and res["skipped"] == 2
    deadline = time.time() + 120  # --no-wait: the job runs on without us
    while not (out / "runs" / lost / "metrics.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    assert len(list((out / "submitit").glob("*_0_log.out"))) == 4
    res = run_suite(suite, out=out, quiet=True, report=False, launcher="submitit", launch={"cluster": "local"})
    assert res["skipped"] == 3 and res["finished"] == 0  # nothing left: no job submitted
    assert len(list((out / "submitit").glob("*_0_log.out"))) == 4
    again = assert_complete(out, 3)
    assert {k: v for k, v in again.items() if k != lost} == {k: v for k, v in first.items() if k != lost}
    m = json.loads((out / "runs" / lost / "metrics.json").read_text())
    assert m["run_id"] == lost


def test_submitit_refuses_bad_combinations(tmp_path):
    suite = write(tmp_path, SMOKE)
    with pytest.raises(ConfigError, match="--no-wait with cluster 'debug'"):
        run_suite(suite, out=tmp_path / "o", quiet=True, launcher="submitit", launch={"cluster": "debug"},
                  wait=False)
    with pytest.raises(ConfigError, match="train.batch_size=32 .* divisible by launcher.tasks_per_job=3"):
        run_suite(suite, out=tmp_path / "o", quiet=True, launcher="submitit",
                  launch={"cluster": "local", "tasks_per_job": 3})
    assert not (tmp_path / "o" / "submitit").exists()


def test_submitit_job_with_two_tasks_is_one_ddp_run(tmp_path):
    """tasks_per_job: 2 -> each job's two tasks are the two DDP ranks of its cell (gloo here)."""
    from stbench.benchmarks.engine import train

    # dropout 0 and 100 kept windows (divisible by 2): the DDP run equals one process
    text = (SMOKE.replace("[full, random, infobatch]", "[random]").replace("max_steps: 300", "max_steps: 308")
            + "model_params: {stid: {dropout: 0.0}}\n")
    suite = write(tmp_path, text)
    out = tmp_path / "out"
    res = run_suite(suite, out=out, quiet=True, report=False, launcher="submitit",
                    launch={"cluster": "local", "tasks_per_job": 2, "cpus_per_job": 2})
    assert (res["finished"], res["lost"]) == (1, 0)
    assert_complete(out, 1)
    assert len(list((out / "submitit").glob("*_1_log.out"))) == 1  # the second task (rank 1)
    spec = load_suite(suite)[1][0]
    m = json.loads((out / "runs" / spec.run_id / "metrics.json").read_text())
    assert m["world_size"] == 2
    single = train(spec.config)
    assert m["selected_digest"] == single.selected_digest
    assert m["test"]["mae"] == pytest.approx(single.test["mae"], rel=1e-4)


def test_slurm_example_suite_submits_one_array(tmp_path, monkeypatch):
    """The example suite through the real SLURM executor, with stand-ins for srun/sbatch."""
    from stbench.benchmarks.config import REPO

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text('#!/bin/sh\ncp "$1" "$FAKE_SBATCH_COPY"\necho "Submitted batch job 4242"\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SBATCH_COPY", str(tmp_path / "job.sbatch"))
    res = run_suite(REPO / "configs" / "suites" / "slurm_example.yaml", out=tmp_path / "out", quiet=True,
                    launcher="submitit", launch={"array_parallelism": 8}, wait=False)
    assert res == {"runs": 84, "out": tmp_path / "out", "skipped": 0, "submitted": 84}
    script = (tmp_path / "job.sbatch").read_text()
    for line in ("#SBATCH --array=0-83%8", "#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --cpus-per-task=8", "#SBATCH --time=240", "#SBATCH --mem=32GB",
                 f"#SBATCH --output={tmp_path / 'out' / 'submitit'}/%A_%a_0_log.out", f"export PYTHONPATH={REPO}"):
        assert line in script, line
