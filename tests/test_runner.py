"""End-to-end grid: every file, resume after SIGKILL, locks, failures, reports."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from stbench.benchmarks.config import load_suite
from stbench.benchmarks.runner import execute, run_suite
from stbench.benchmarks.store import RESULT_COLUMNS, ResultsStore

REPO = Path(__file__).resolve().parents[1]

SMOKE = """
name: smoke
profile: smoke
datasets: [SYNTHETIC]
models: [stid, gwnet]
strategies: [full, random, infobatch]
ratios: [0.5]
seeds: [0, 1]
dataset: {max_steps: 400}
train: {epochs: 2, batch_size: 64}
"""

RUN_FILES = ("config.yaml", "metrics.json", "timing.json", "curve.csv", "env.json")


@pytest.fixture(scope="module")
def smoke_grid(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grid")
    suite = tmp / "smoke.yaml"
    suite.write_text(SMOKE)
    out = tmp / "out"
    res = run_suite(suite, out=out, quiet=True)
    return suite, out, res


def test_smoke_grid_writes_every_file(smoke_grid):
    suite, out, res = smoke_grid
    assert res["finished"] == 2 * 3 * 2 and res["failed"] == 0
    runs = sorted((out / "runs").glob("*/"))
    assert len(runs) == 12
    for d in runs:
        for f in RUN_FILES:
            assert (d / f).is_file(), f"{d.name} lacks {f}"
        m = json.loads((d / "metrics.json").read_text())
        for k in ("mae", "rmse", "mape", "mae@3", "mae@6", "mae@12"):
            assert k in m["test"]
        env = json.loads((d / "env.json").read_text())
        assert {"git", "machine", "seed", "data_files"} <= set(env)
        assert env["machine"]["torch"]
        timing = json.loads((d / "timing.json").read_text())
        assert len(timing["epochs"]) == 2
        for e in timing["epochs"]:
            assert {"train_seconds", "eval_seconds", "pruner_seconds", "sample_passes", "steps"} <= set(e)
    header = (out / "results.csv").read_text().splitlines()[0].split(",")
    assert header == RESULT_COLUMNS
    assert len((out / "results.csv").read_text().splitlines()) == 13
    rep = out / "report"
    for f in ("tables.md", "tables.tex", "summary.md", "index.md"):
        assert (rep / f).is_file(), f
    assert list(rep.rglob("*.png")) and list(rep.rglob("*.pdf"))


def test_rerun_skips_finished(smoke_grid):
    suite, out, _ = smoke_grid
    before = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/metrics.json")}
    res = run_suite(suite, out=out, quiet=True, report=False)
    assert res["skipped"] == 12 and res["finished"] == 0
    after = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/metrics.json")}
    assert before == after


def test_report_regenerates_identical_tables(smoke_grid):
    from stbench.benchmarks.report import write_report
    _, out, _ = smoke_grid
    names = ("tables.md", "tables.tex", "summary.csv", "summary.md")
    first = {n: (out / "report" / n).read_bytes() for n in names}
    write_report(out)
    assert first == {n: (out / "report" / n).read_bytes() for n in names}
    # and through the CLI, from the stored CSV
    r = subprocess.run([sys.executable, "run_benchmark.py", "report", str(out)], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert first == {n: (out / "report" / n).read_bytes() for n in names}


def test_same_seed_identical_metrics_and_selection(smoke_grid, tmp_path):
    suite, out, _ = smoke_grid
    _, specs = load_suite(suite)
    spec = [s for s in specs if s.config["strategy"]["name"] == "infobatch" and s.config["model"]["name"] == "stid"][0]
    store = ResultsStore(tmp_path)
    assert execute(spec, store) == "finished"
    a = json.loads((out / "runs" / spec.run_id / "metrics.json").read_text())
    b = json.loads((tmp_path / "runs" / spec.run_id / "metrics.json").read_text())
    assert a["selected_digest"] == b["selected_digest"]
    assert a["test"] == b["test"]


def test_lock_blocks_second_runner(tmp_path):
    suite = tmp_path / "s.yaml"
    suite.write_text(SMOKE.replace("models: [stid, gwnet]", "models: [stid]")
                     .replace("[full, random, infobatch]", "[full]").replace("seeds: [0, 1]", "seeds: [0]"))
    _, specs = load_suite(suite)
    store = ResultsStore(tmp_path / "out")
    with store.lock(specs[0].run_id) as lk:
        assert lk.acquire()
        assert execute(specs[0], store) == "locked"
    assert execute(specs[0], store) == "finished"


def test_divergence_recorded_and_grid_goes_on(tmp_path):
    suite = tmp_path / "s.yaml"
    suite.write_text(SMOKE.replace("models: [stid, gwnet]", "models: [stid]")
                     .replace("seeds: [0, 1]", "seeds: [0]")
                     + "experiments:\n  - {name: bad, strategies: [full], train: {lr: 1.0e+30, optimizer: sgd, clip: null}}\n"
                       "  - {name: good, strategies: [random]}\n")
    res = run_suite(suite, out=tmp_path / "out", quiet=True)
    assert res["failed"] == 1 and res["finished"] == 1
    failed = list((tmp_path / "out" / "runs").glob("*/failed.json"))
    assert len(failed) == 1
    assert "diverged" in json.loads(failed[0].read_text())["error"]
    rows = (tmp_path / "out" / "results.csv").read_text()
    assert ",failed," in rows
    assert "failed" in (tmp_path / "out" / "report" / "index.md").read_text().lower()


def test_sigkill_midway_then_resume(tmp_path):
    suite = tmp_path / "k.yaml"
    suite.write_text(SMOKE.replace("models: [stid, gwnet]", "models: [stid]")
                     .replace("train: {epochs: 2, batch_size: 64}", "train: {epochs: 3, batch_size: 64}"))
    out = tmp_path / "out"
    _, specs = load_suite(suite)
    n = len(specs)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "run_benchmark.py", "run", str(suite), "--out", str(out),
                             "--no-report"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline:
        done = list(out.glob("runs/*/metrics.json"))
        if len(done) >= 2:
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished_before = {p.parent.name: p.read_bytes() for p in out.glob("runs/*/metrics.json")}
    assert 1 <= len(finished_before) < n, "the kill must land mid-grid"
    res = run_suite(suite, out=out, quiet=True, report=False)
    assert res["skipped"] == len(finished_before)
    assert res["finished"] == n - len(finished_before)
    after = {p.parent.name: p.read_bytes() for p in out.glob("runs/*/metrics.json")}
    assert len(after) == n and len(list((out / "runs").glob("*/"))) == n
    for k, v in finished_before.items():
        assert after[k] == v  # nothing lost or rewritten
    lines = (out / "results.csv").read_text().splitlines()
    assert len(lines) == n + 1


def test_dry_run_lists_without_running(tmp_path, capsys):
    suite = tmp_path / "s.yaml"
    suite.write_text(SMOKE)
    res = run_suite(suite, out=tmp_path / "out", dry_run=True)
    assert res["runs"] == 12
    assert not (tmp_path / "out" / "runs").exists()
    assert "pending" in capsys.readouterr().out
