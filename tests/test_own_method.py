"""Bring your own method (docs/own_method.md): a strategy that lives outside the repository.

- by import path (``module:Class`` next to the suite) in-process, with --isolate and with
  submitit's local cluster, suite ``params`` type-checked against the class;
- by an entry point of a small package installed in a fresh venv (``stbench.pruners``);
- its code is in the run identity: editing the module makes its cells pending, ``--rerun``
  reruns a finished cell;
- ``run --baselines DIR`` reuses DIR's cells (none rerun), runs only the new method's, and
  names the differing keys when a cell's identity differs;
- the worked example of docs/own_method.md against the committed results/budget_cpu.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
import venv
from pathlib import Path

import pytest
import yaml

from stbench.benchmarks.config import ConfigError, load_suite
from stbench.benchmarks.runner import run_suite

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("STBENCH_DATA", REPO.parent / "shared" / "data"))
DOC = REPO / "docs" / "own_method.md"

METHOD = '''
import numpy as np

from stbench.pruning import Pruner, Selection
from stbench.pruning.schedule import ParamCheck, kept_count


class LossVar(Pruner):
    """Keep the k samples whose loss moved most between their last two visits."""

    def __init__(self, context, ratio=0.3, budget=None, *, warmup: int = 1, power: float = 1.0,
                 **unknown):
        chk = ParamCheck.for_pruner(self, context, unknown)
        super().__init__(context, chk.ratio(ratio), budget)
        self.warmup = chk.integer("warmup", warmup, lo=0)
        self.power = chk.number("power", power, lo=0.0, lo_open=True)
        self.prev = np.zeros(self.n)
        self.last = np.zeros(self.n)

    def select(self, epoch):
        if epoch < self.warmup:
            return self.full()
        k = kept_count(self.n, self.ratio)
        score = np.abs(self.last - self.prev) ** self.power
        top = np.argpartition(-score, k - 1)[:k]
        return Selection(np.sort(top), np.ones(k, dtype=np.float32))

    def update(self, indices, losses, el2n=None):
        self.prev[indices] = self.last[indices]
        self.last[indices] = losses
'''

SUITE = """
name: mine
profile: smoke
datasets: [SYNTHETIC]
models: [stid]
strategies: [full, {STRATEGY}]
ratios: [0.5]
seeds: [0]
dataset: {max_steps: 300}
train: {epochs: 1, threads: 1}
launcher: {cpus_per_job: 1, time_min: 10}
"""


def outside_method(tmp_path: Path) -> tuple:
    """(directory, module name) of a fresh copy of METHOD outside the repository (a new module
    name per test: modules stay imported for the rest of the pytest process)."""
    d = tmp_path / "elsewhere"
    d.mkdir(exist_ok=True)
    mod = f"lossvar_{uuid.uuid4().hex[:8]}"
    (d / f"{mod}.py").write_text(METHOD)
    return d, mod


def suite(d: Path, strategy: str, name: str = "suite.yaml", **replace) -> Path:
    text = SUITE.replace("{STRATEGY}", strategy)
    for a, b in replace.items():
        text = text.replace(a, b)
    p = d / name
    p.write_text(text)
    return p


def cli(*args, cwd, env=None, python=sys.executable):
    e = {**os.environ, **(env or {})}
    return subprocess.run([str(python), str(REPO / "run_benchmark.py"), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600, env=e)


def finished(out: Path) -> dict:
    return {d.name: json.loads((d / "metrics.json").read_text())
            for d in (out / "runs").iterdir() if (d / "metrics.json").is_file()}


# ----------------------------------------------------------------------------- import path
def test_import_path_runs_in_process_isolated_and_under_submitit(tmp_path):
    d, mod = outside_method(tmp_path)
    s = suite(d, f'{{name: "{mod}:LossVar", params: {{power: 2}}}}')
    res = run_suite(s, out=tmp_path / "seq", quiet=True, report=False)
    assert (res["finished"], res["failed"]) == (2, 0)
    seq = finished(tmp_path / "seq")
    [rid] = [r for r in seq if "_lossvar_" in r]          # label: the class name, lower-cased
    cfg = yaml.safe_load((tmp_path / "seq" / "runs" / rid / "config.yaml").read_text())
    assert cfg["strategy"]["name"] == f"{mod}:LossVar" and cfg["strategy"]["params"] == {"power": 2, "warmup": 1}
    assert cfg["code"]["strategy"].startswith("sha256:")

    # a fresh process per cell, and submitit jobs: the worker imports the module itself
    env = {"PYTHONPATH": ""}  # nothing but the run config tells the workers where the module is
    for out, flags in (("iso", ["--isolate"]), ("sub", ["--launcher", "submitit", "--cluster", "local"])):
        r = cli("run", s, "--out", tmp_path / out, "--data-root", DATA, "--no-report", *flags, cwd=tmp_path,
                env=env)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        other = finished(tmp_path / out)
        assert set(other) == set(seq), (out, r.stdout)
        assert other[rid]["test"] == seq[rid]["test"]
        assert other[rid]["selected_digest"] == seq[rid]["selected_digest"]


def test_suite_params_are_checked_against_the_class(tmp_path):
    d, mod = outside_method(tmp_path)
    with pytest.raises(ConfigError, match=r"strategies\[1\]\.params\.power: expected float, got 'x' \(str\)"):
        load_suite(suite(d, f'{{name: "{mod}:LossVar", params: {{power: x}}}}'))
    with pytest.raises(ConfigError, match=r"params\.warmup: expected int, got 1\.5"):
        load_suite(suite(d, f'{{name: "{mod}:LossVar", params: {{warmup: 1.5}}}}'))
    with pytest.raises(ConfigError, match="unknown parameter 'powr'.*valid: power, warmup"):
        load_suite(suite(d, f'{{name: "{mod}:LossVar", params: {{powr: 2}}}}'))
    with pytest.raises(ConfigError, match=f"'{mod}:Nope': {mod} has no attribute 'Nope'"):
        load_suite(suite(d, f'"{mod}:Nope"'))
    with pytest.raises(ConfigError, match="cannot import module 'no_such_pkg'"):
        load_suite(suite(d, '"no_such_pkg:X"'))
    (d / "notapruner.py").write_text("class X:\n    pass\n")
    with pytest.raises(ConfigError, match="is not a subclass of stbench.pruning.base.Pruner"):
        load_suite(suite(d, '"notapruner:X"'))
    _, specs = load_suite(suite(d, f'{{name: "{mod}:LossVar", label: lv, ratio: 0.25}}'))
    assert [(s.config["strategy"]["label"], s.config["strategy"]["ratio"]) for s in specs][1] == ("lv", 0.25)


def test_changing_the_code_makes_the_cell_pending_and_rerun_reruns(tmp_path):
    d, mod = outside_method(tmp_path)
    s = suite(d, f'"{mod}:LossVar"')
    out = tmp_path / "out"
    run_suite(s, out=out, quiet=True, report=False)
    before = finished(out)

    def dry():
        r = cli("run", s, "--out", out, "--data-root", DATA, "--dry-run", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        return {line.split()[1]: line.split()[0] for line in r.stdout.splitlines() if "[mine]" in line}

    assert set(dry().values()) == {"finished"}                       # a new process: same identity
    (d / f"{mod}.py").write_text(METHOD.replace("power: float = 1.0", "power: float = 3.0"))
    now = dry()
    assert sorted(now.values()) == ["finished", "pending"]
    [new] = [r for r, st in now.items() if st == "pending"]
    assert "_lossvar_" in new and new not in before

    # --rerun: a finished cell runs again on purpose; the old run is kept under replaced/
    [full] = [r for r in before if "_full_" in r]
    res = run_suite(s, out=out, quiet=True, report=False, rerun=True, only=["strategy=full"])
    assert res["finished"] == 1
    assert finished(out)[full]["finished_at"] >= before[full]["finished_at"]
    assert [p.name.rsplit(".", 1)[0] for p in (out / "replaced").iterdir()] == [full]
    assert (out / "replaced").is_dir() and full in os.listdir(out / "runs")


# ----------------------------------------------------------------------------- entry point
def test_entry_point_of_an_installed_package(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "lossvar_plugin").mkdir(parents=True)
    (pkg / "lossvar_plugin" / "__init__.py").write_text(METHOD)
    (pkg / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "lossvar-plugin"\nversion = "0.3.0"\n\n'
        '[project.entry-points."stbench.pruners"]\nlossvar = "lossvar_plugin:LossVar"\n')
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)  # torch etc. from this environment
    py = env_dir / "bin" / "python"
    wheels = tmp_path / "wheels"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                        str(wheels), str(pkg)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", *map(str, wheels.glob("*.whl"))],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    work = tmp_path / "work"
    work.mkdir()
    r = cli("list", cwd=work, python=py)
    assert r.returncode == 0 and "lossvar" in r.stdout, r.stdout + r.stderr
    s = suite(work, "{name: lossvar, params: {power: 2.0}}")
    for out, flags in (("seq", []), ("sub", ["--launcher", "submitit", "--cluster", "local"])):
        r = cli("run", s, "--out", work / out, "--data-root", DATA, "--no-report", *flags, cwd=work, python=py)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        runs = finished(work / out)
        [rid] = [x for x in runs if "_lossvar_" in x]
        cfg = yaml.safe_load((work / out / "runs" / rid / "config.yaml").read_text())
        assert cfg["code"]["strategy"].startswith("lossvar-plugin==0.3.0 sha256:")
    assert finished(work / "seq")[rid]["test"] == finished(work / "sub")[rid]["test"]
    r = cli("run", suite(work, "{name: lossvar, params: {power: two}}", "bad.yaml"), "--dry-run", cwd=work, python=py)
    assert r.returncode == 2 and "params.power: expected float, got 'two'" in r.stderr


# ----------------------------------------------------------------------------- baselines
def test_baselines_are_reused_never_rerun(tmp_path):
    d, mod = outside_method(tmp_path)
    base = tmp_path / "baselines"
    run_suite(suite(d, "random", "base.yaml"), out=base, quiet=True, report=False)
    committed = finished(base)
    assert len(committed) == 2
    out = tmp_path / "mine"
    s = suite(d, f'random, "{mod}:LossVar"')                   # full, random and the new method
    res = run_suite(s, out=out, quiet=True, baselines=base)
    assert res["finished"] == 1 and res["skipped"] == 2          # only the new method ran
    mine = finished(out)
    assert len(mine) == 3
    full = [r for r in committed if "_full_" in r][0]
    assert all(mine[r] == committed[r] for r in committed)       # the baselines' runs, copied
    assert (out / "runs" / full / "curve.csv").read_bytes() == (base / "runs" / full / "curve.csv").read_bytes()
    assert "lossvar" in (out / "results.csv").read_text()
    tables = (out / "report" / "tables.md").read_text()              # the method among the baselines
    assert all(label in tables for label in ("lossvar", "random", "full"))
    # a second run: nothing left to run
    assert run_suite(s, out=out, quiet=True, report=False, baselines=base)["finished"] == 0

    # a differing setting: an error before anything runs, naming the key and both values
    s2 = suite(d, f'random, "{mod}:LossVar"', "threads.yaml", **{"threads: 1": "threads: 2"})
    with pytest.raises(ConfigError) as e:
        run_suite(s2, out=tmp_path / "other", quiet=True, baselines=base)
    assert "train.threads: 2 (yours) vs 1 (baselines)" in str(e.value)
    assert not (tmp_path / "other" / "runs").exists() or not any((tmp_path / "other" / "runs").iterdir())
    r = cli("run", s2, "--out", tmp_path / "other", "--baselines", base, "--data-root", DATA, cwd=tmp_path)
    assert r.returncode == 2 and "train.threads: 2 (yours) vs 1 (baselines)" in r.stderr


def _doc_blocks(lang: str):
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_worked_example_against_the_committed_baselines(tmp_path):
    """docs/own_method.md: its module and suite, as written there, against results/budget_cpu
    (a dry run: the committed cells are reused, only the new method's are pending)."""
    if not (DATA / "LOS-LOOP").is_dir():
        pytest.skip("no LOS-LOOP under the data root")
    [module] = [b for b in _doc_blocks("python") if "class LossVar" in b]
    [text] = [b for b in _doc_blocks("yaml") if "lossvar:LossVar" in b]
    work = tmp_path / "my_method"                                  # outside the repository
    work.mkdir()
    (work / "lossvar.py").write_text(module)
    (work / "lossvar_vs_budget_cpu.yaml").write_text(text)
    # the committed runs were made by committed code: judge the example by that code's version
    r = cli("run", "lossvar_vs_budget_cpu.yaml", "--baselines", REPO / "results" / "budget_cpu",
            "--data-root", DATA, "--dry-run", cwd=work, env={"STBENCH_CODE_IDENTITY": "version"})
    assert r.returncode == 0, r.stderr[-3000:]
    status = [line.split()[0] for line in r.stdout.splitlines() if "[lossvar_vs_budget_cpu]" in line]
    pending = [line for line in r.stdout.splitlines() if line.startswith("pending")]
    assert status.count("baseline") >= 4 and pending and all("_lossvar_" in p for p in pending)
    assert re.search(r"\d+ cell\(s\) reused", r.stdout)
    # the same suite with another thread count: the message names the key
    (work / "t1.yaml").write_text(text.replace("threads: 2", "threads: 1"))
    r = cli("run", "t1.yaml", "--baselines", REPO / "results" / "budget_cpu", "--data-root", DATA, "--dry-run",
            cwd=work, env={"STBENCH_CODE_IDENTITY": "version"})
    assert r.returncode == 2 and "train.threads: 1 (yours) vs 2 (baselines)" in r.stderr


# ----------------------------------------------------------------------------- models
MODEL = '''
from torch import nn

from stbench.models import STModel


class Linear(STModel):
    """Per node: the next out_steps values as a linear map of the last in_steps values."""

    def __init__(self, meta, *, bias: bool = True):
        super().__init__(meta)
        self.lin = nn.Linear(self.in_steps, self.out_steps, bias=bias)

    def forward(self, x):
        self.check_input(x)
        return self.lin(x[..., 0].transpose(1, 2)).transpose(1, 2).unsqueeze(-1)
'''


def test_outside_model_by_import_path(tmp_path):
    d = tmp_path / "elsewhere"
    d.mkdir()
    mod = f"tinymodel_{uuid.uuid4().hex[:8]}"
    (d / f"{mod}.py").write_text(MODEL)
    s = suite(d, "random", **{"models: [stid]": f'models: ["{mod}:Linear"]'})
    res = run_suite(s, out=tmp_path / "seq", quiet=True, report=False)
    assert (res["finished"], res["failed"]) == (2, 0)
    seq = finished(tmp_path / "seq")
    assert all(r.startswith("SYNTHETIC_linear_") for r in seq)      # the class name in the directory
    cfg = yaml.safe_load((tmp_path / "seq" / "runs" / sorted(seq)[0] / "config.yaml").read_text())
    assert cfg["model"] == {"name": f"{mod}:Linear", "params": {"bias": True}}
    assert cfg["code"]["model"].startswith("sha256:")
    r = cli("run", s, "--out", tmp_path / "sub", "--data-root", DATA, "--no-report", "--launcher", "submitit",
            "--cluster", "local", cwd=tmp_path, env={"PYTHONPATH": ""})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    sub = finished(tmp_path / "sub")
    assert set(sub) == set(seq) and all(sub[k]["test"] == seq[k]["test"] for k in seq)
    with pytest.raises(ConfigError, match=f"model '{mod}:Nope': {mod} has no attribute 'Nope'"):
        load_suite(suite(d, "random", "bad.yaml", **{"models: [stid]": f'models: ["{mod}:Nope"]'}))
