"""A slim install: the wheel without extras, in a fresh venv that sees nothing of this one.

Builds the repository's wheel, installs it with its core dependencies only (pinned by
constraints.txt; torch comes from the machine's local wheel or the package registry) into a
fresh virtual environment without system site-packages, then, from a directory outside the
repository: imports stbench.pruning, lists the strategies, lists the data sets, runs a
one-epoch SYNTHETIC suite with its report, and checks that a NetCDF / GRIB data set fails
with one line naming the extra. Needs the package registry: outside CI a failed install skips it,
under CI=true it fails. Slow (minutes): run with -m slow.
"""
from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("STBENCH_DATA", REPO.parent / "shared" / "data"))
EXTRAS = ("h5py", "tables", "xarray", "netCDF4", "h5netcdf", "cfgrib", "eccodes", "submitit", "pyarrow")

SUITE = """
name: slim
profile: smoke
datasets: [SYNTHETIC]
models: [stid]
strategies: [full, infobatch]
ratios: [0.5]
seeds: [0]
dataset: {max_steps: 300}
train: {epochs: 1, threads: 1}
"""


def _run(cmd, **kw):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "STBENCH_DATA")}
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=1500, env=env, **kw)


@pytest.mark.slow
def test_wheel_without_extras_runs_a_suite_outside_the_repository(tmp_path):
    r = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
              tmp_path / "dist", REPO])
    assert r.returncode == 0, r.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("stbench-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=False, with_pip=True)
    py, bindir = env_dir / "bin" / "python", env_dir / "bin"
    r = _run([py, "-m", "pip", "install", "-q", "-c", REPO / "constraints.txt", wheel])
    if r.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"could not install the core dependencies: {r.stderr[-1500:]}")
        pytest.skip(f"core dependencies not installable here: {r.stderr.strip().splitlines()[-1:]}")
    installed = _run([py, "-m", "pip", "list", "--format=freeze"]).stdout.lower()
    assert not [m for m in EXTRAS if f"{m.lower()}==" in installed], installed

    work = tmp_path / "elsewhere"
    work.mkdir()
    code = ("import stbench, stbench.pruning as p\n"
            "assert 'site-packages' in stbench.__file__, stbench.__file__\n"
            "print(' '.join(p.pruner_names()))")
    r = _run([py, "-c", code], cwd=work)
    assert r.returncode == 0 and "infobatch" in r.stdout and "stprune" in r.stdout, r.stderr[-2000:]
    r = _run([bindir / "stbench", "list"], cwd=work)
    assert r.returncode == 0 and "SYNTHETIC" in r.stdout and "stprune" in r.stdout, r.stderr[-2000:]
    r = _run([bindir / "stbench", "data", "info", "SYNTHETIC"], cwd=work)
    assert r.returncode == 0, r.stderr[-2000:]

    (work / "suite.yaml").write_text(SUITE)
    r = _run([bindir / "stbench", "run", "suite.yaml"], cwd=work)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    runs = sorted((work / "results" / "slim" / "runs").glob("*/metrics.json"))   # results/ of the cwd
    assert len(runs) == 2 and (work / "results" / "slim" / "report").is_dir()

    # NetCDF and GRIB data sets without the formats extra: one line each, the extra named
    for name, f in (("WFDE5-UK-TAIR", "air_temperature.nc"), ("ERA5-UK-T2M", "era5-2mt-2019-03-uk.grib")):
        if (DATA / "WEATHER" / f).is_file():
            r = _run([bindir / "stbench", "data", "info", name, "--data-root", DATA], cwd=work)
            err = r.stderr.strip().splitlines()
            assert r.returncode != 0 and len(err) == 1 and "needs xarray" in err[0], r.stderr
            assert 'pip install "stbench[formats]"' in err[0], r.stderr


def test_a_missing_reader_names_the_extra(tmp_path, monkeypatch):
    """Without the formats extra: one DataError line naming the package and the extra."""
    import importlib.util

    from stbench.datasets.base import DataError
    from stbench.datasets.formats import reading
    from stbench.datasets.formats_grid import NetcdfGrid

    monkeypatch.setitem(sys.modules, "tables", None)    # import tables -> ImportError
    with pytest.raises(DataError) as e:
        with reading(tmp_path / "x.h5", "pandas HDF store"):
            import tables  # noqa: F401
    msg = str(e.value)
    assert "\n" not in msg and "needs tables" in msg and 'pip install "stbench[formats]"' in msg
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "netCDF4" else real(name, *a))
    with pytest.raises(DataError, match=r"needs netCDF4 .*pip install \"stbench\[formats\]\""):
        with reading(tmp_path / "x.nc", "netcdf4 dataset"):
            NetcdfGrid().open(tmp_path / "x.nc")
