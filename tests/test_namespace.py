"""One namespace: the suite installs as ``stbench`` only, next to Hugging Face ``datasets``.

The wheel test builds the suite's wheel and lists its top-level names. The venv test
installs Hugging Face ``datasets`` and the suite (editable) into a fresh virtual
environment that sees this one's packages (torch etc.), then runs ``stbench list`` and
imports both. It needs the package registry: outside CI a failed download skips it,
under CI=true it fails.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUBPACKAGES = ("benchmarks", "datasets", "models", "pruning")


def _run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)


def test_no_module_imports_a_top_level_suite_package():
    """Every import of the suite's own packages goes through ``stbench.``."""
    bad = []
    for path in sorted(REPO.rglob("*.py")):
        rel = path.relative_to(REPO)
        if rel.parts[0] in ("results", "build", ".venv") or "site-packages" in rel.parts:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                     else [])
            bad += [f"{rel}:{node.lineno}: {n}" for n in names if n.split(".")[0] in SUBPACKAGES]
    assert not bad, "import these through stbench.<package>:\n" + "\n".join(bad)


def test_wheel_installs_only_stbench(tmp_path):
    r = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path),
              str(REPO)])
    assert r.returncode == 0, r.stderr[-2000:]
    wheel = next(tmp_path.glob("stbench-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = sorted({n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")})
    assert top == ["stbench"]
    for sub in SUBPACKAGES:
        assert f"stbench/{sub}/__init__.py" in names


def test_next_to_hugging_face_datasets(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    py = env_dir / "bin" / "python"
    r = _run([str(py), "-m", "pip", "install", "-q", "datasets"])
    if r.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"could not install Hugging Face datasets: {r.stderr[-1500:]}")
        pytest.skip(f"Hugging Face datasets not installable here: {r.stderr.strip().splitlines()[-1:]}")
    r = _run([str(py), "-m", "pip", "install", "-q", "--no-deps", "-e", str(REPO)])
    assert r.returncode == 0, r.stderr[-2000:]
    r = _run([str(env_dir / "bin" / "stbench"), "list"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "SYNTHETIC" in r.stdout and "stprune" in r.stdout
    code = ("import datasets, stbench.datasets, stbench.pruning, stbench.models, stbench.benchmarks\n"
            "assert 'site-packages' in datasets.__file__, datasets.__file__\n"
            "assert hasattr(datasets, 'load_dataset')\n"
            "assert hasattr(stbench.datasets, 'load_windowed')\n"
            "print('ok')")
    r = _run([str(py), "-c", code], cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
