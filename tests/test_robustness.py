"""Inputs a new user gets wrong: data identity, strict YAML, incomplete grid files, broken
data-set YAMLs, the dirty flag, one-sided compare, pinned constraints, the docs' strategy
example in a checkout, download messages and plain-text help. Fast: small files in
tmp_path; real files only in the tests marked ``realdata``."""
from __future__ import annotations

import argparse
import importlib.metadata as md
import importlib.util
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from stbench import datasets as D
from stbench.datasets import download as dl
from stbench.benchmarks.compare import compare_dirs, one_sided_lines, summary_line
from stbench.benchmarks.env import SUITE_PATHS, git_state_now
from stbench.yamlio import YamlError, load_yaml_strict
from stbench.datasets.base import DataError
from stbench.datasets.cli import add_data_commands
from stbench.datasets.identity import dataset_identity, identity_digest
from stbench.datasets.registry import SpecError, UnknownDataset, broken_datasets

REPO = Path(__file__).resolve().parents[1]
TIME5 = {"start": "2012-03-01 00:00", "step_minutes": 5}
GRIB = "WEATHER/era5-2mt-2019-03-uk.grib"


@pytest.fixture(autouse=True)
def private_hash_cache(tmp_path, monkeypatch):
    """Each test gets its own sha256 cache file and an empty in-memory cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(dl, "_HASH_CACHE", {})


def write_spec(d: Path, name: str, fmt: str, files=None, **extra) -> dict:
    spec = {"name": name, "format": fmt, "folder": name, "split": [0.7, 0.1, 0.2], "citation": "t", **extra}
    if files is not None:
        spec["files"] = {r: (f if isinstance(f, dict) else {"path": f}) for r, f in files.items()}
    (d / f"{name}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return spec


def tiny_tgcn(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "speed.csv").write_text("a,b,c\n" + "".join(f"{i + 1},{i + 2},{i + 3}\n" for i in range(40)))
    (folder / "adj.csv").write_text("1,0.5,0\n0.5,1,0\n0,0,1\n")


def age(*paths: Path, seconds: float = 60.0) -> None:
    """Files modified in the last 2 s are not stored in the on-disk cache: age them."""
    t = time.time() - seconds
    for p in paths:
        os.utime(p, (t, t))


def data_cli(argv):
    p = argparse.ArgumentParser(prog="run_benchmark.py")
    add_data_commands(p.add_subparsers())
    args = p.parse_args(argv)
    return args.func(args)


# ----------------------------------------------------------------------------- 1. data identity
@pytest.mark.realdata
def test_identity_follows_the_yaml_and_the_files(real_data_root, specdir, tmp_path):
    root = tmp_path / "root"
    folder = root / "MY-LOOP"
    folder.mkdir(parents=True)
    for f in ("los_speed.csv", "los_adj.csv"):
        src = real_data_root / "LOS-LOOP" / f
        if not src.is_file():
            pytest.skip(f"real data file missing: {src}")
        shutil.copyfile(src, folder / f)
    files = {"series": "los_speed.csv", "graph": "los_adj.csv"}
    spec = write_spec(specdir, "MY-LOOP", "tgcn_csv", files, null_value=0, time=TIME5)

    ident = dataset_identity("my-loop", root)
    assert json.loads(json.dumps(ident)) == ident                       # plain JSON
    assert sorted(ident["files"]) == ["MY-LOOP/los_adj.csv", "MY-LOOP/los_speed.csv"]
    assert str(tmp_path) not in json.dumps(ident)                       # nothing machine-specific
    assert ident["spec"]["time"] == {**TIME5, "step_minutes": 5.0, "steps": None}
    digest = identity_digest(ident)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)

    # stable: recomputed, another data root holding the same bytes, documentation edited
    assert identity_digest(dataset_identity("MY-LOOP", root)) == digest
    other = tmp_path / "elsewhere"
    shutil.copytree(root, other)
    assert identity_digest(dataset_identity("MY-LOOP", other)) == digest
    write_spec(specdir, "MY-LOOP", "tgcn_csv", files, null_value=0, time=TIME5,
               description="reworded", notes="a note")
    assert identity_digest(dataset_identity("MY-LOOP", root)) == digest

    # the YAML changes what is read -> a new identity
    write_spec(specdir, "MY-LOOP", "tgcn_csv", files, null_value=None, time=TIME5)
    assert identity_digest(dataset_identity("MY-LOOP", root)) != digest
    write_spec(specdir, "MY-LOOP", "tgcn_csv", files, null_value=0, time=TIME5)
    assert identity_digest(dataset_identity("MY-LOOP", root)) == digest

    # one byte of the graph file -> a new identity (same size)
    adj = folder / "los_adj.csv"
    data = adj.read_bytes()
    adj.write_bytes(data.replace(b"0.260935932", b"0.260935933", 1))
    assert adj.stat().st_size == len(data)
    changed = dataset_identity("MY-LOOP", root)
    assert changed["files"]["MY-LOOP/los_adj.csv"] != ident["files"]["MY-LOOP/los_adj.csv"]
    assert changed["files"]["MY-LOOP/los_speed.csv"] == ident["files"]["MY-LOOP/los_speed.csv"]
    assert identity_digest(changed) != digest

    # a missing file: the loader's own message
    adj.unlink()
    with pytest.raises(DataError) as from_load:
        D.load_raw("MY-LOOP", root)
    with pytest.raises(DataError) as from_identity:
        dataset_identity("MY-LOOP", root)
    assert str(from_identity.value) == str(from_load.value)
    assert str(adj) in str(from_identity.value) and "\n" not in str(from_identity.value)
    assert spec["name"] == "MY-LOOP"


def test_identity_of_generated_data_is_its_spec(specdir):
    base = {"time": {"start": "2024-01-01 00:00", "step_minutes": 5}, "options": {"nodes": 6, "days": 1}}
    write_spec(specdir, "GEN", "synthetic", graph={"sigma_km": 3.0, "threshold": 0.1}, **base)
    ident = dataset_identity("GEN", "/nonexistent/root")  # no files: no data root needed
    assert ident["files"] == {} and ident["spec"]["graph"]["threshold"] == 0.1
    assert "_source" not in ident["spec"] and "citation" not in ident["spec"]
    write_spec(specdir, "GEN", "synthetic", graph={"sigma_km": 3.0, "threshold": 0.2}, **base)
    assert identity_digest(dataset_identity("GEN")) != identity_digest(ident)
    assert dataset_identity("SYNTHETIC")["files"] == {}


def test_sha256_cache_skips_rehashing_unchanged_files(specdir, tmp_path, monkeypatch):
    tiny_tgcn(tmp_path / "root" / "T")
    write_spec(specdir, "T", "tgcn_csv", {"series": "speed.csv", "graph": "adj.csv"}, time=TIME5)
    speed, adj = tmp_path / "root" / "T" / "speed.csv", tmp_path / "root" / "T" / "adj.csv"
    age(speed, adj)
    hashed = []
    real = dl._hash_bytes
    monkeypatch.setattr(dl, "_hash_bytes", lambda p: hashed.append(Path(p).name) or real(p))

    first = dataset_identity("T", tmp_path / "root")
    assert sorted(hashed) == ["adj.csv", "speed.csv"]
    cache = tmp_path / "xdg" / "stbench" / "sha256.json"
    stored = json.loads(cache.read_text())["files"]
    assert stored[str(speed.resolve())]["size"] == speed.stat().st_size

    monkeypatch.setattr(dl, "_HASH_CACHE", {})  # a new process: only the file on disk is left
    assert dataset_identity("T", tmp_path / "root") == first and len(hashed) == 2

    adj.write_text("1,0.25,0\n0.25,1,0\n0,0,1\n")  # same size, new mtime -> hashed again
    age(adj, seconds=30)
    monkeypatch.setattr(dl, "_HASH_CACHE", {})
    assert dataset_identity("T", tmp_path / "root") != first and hashed[2:] == ["adj.csv"]

    cache.write_text("{ not json")  # a corrupt cache is ignored and rebuilt
    monkeypatch.setattr(dl, "_HASH_CACHE", {})
    dataset_identity("T", tmp_path / "root")
    assert len(hashed) == 5 and len(json.loads(cache.read_text())["files"]) == 2
    assert not [p for p in cache.parent.iterdir() if p.name != "sha256.json"]  # no temp file left


# ----------------------------------------------------------------------------- 2. strict YAML
def test_duplicate_yaml_key_names_file_line_and_key(tmp_path, specdir):
    p = tmp_path / "suite.yaml"
    p.write_text("name: x\ntrain:\n  epochs: 3\n  lr: 0.1\n  epochs: 5\n")
    with pytest.raises(YamlError, match=rf"^{re.escape(str(p))}: line 5: duplicate key 'epochs' \(first at line 3\)$"):
        load_yaml_strict(p)
    p.write_text("base: &b {epochs: 3}\ntrain:\n  <<: *b\n  epochs: 5\n")  # a merge key may be overridden
    assert load_yaml_strict(p)["train"] == {"epochs": 5}
    p.write_text("a: [1, 2\n")
    with pytest.raises(YamlError, match=rf"^{re.escape(str(p))}: not valid YAML: .*line 2") as e:
        load_yaml_strict(p)
    assert "\n" not in str(e.value)
    p.write_text("- a\n- b\n")
    with pytest.raises(YamlError, match="expected a mapping at the top level, got list"):
        load_yaml_strict(p)
    with pytest.raises(YamlError, match="nope.yaml: file not found"):
        load_yaml_strict(tmp_path / "nope.yaml")
    assert isinstance(YamlError("x"), ValueError)

    # a data-set YAML with a duplicate key is broken, with the line in the reason
    (specdir / "DUP.yaml").write_text("name: DUP\nformat: synthetic\nsplit: [0.7, 0.1, 0.2]\n"
                                      "citation: t\ngraph: {threshold: 0.1}\ngraph: {threshold: 0.5}\n")
    assert re.search(r"DUP\.yaml: line 6: duplicate key 'graph' \(first at line 5\)", broken_datasets()["DUP"])


# ----------------------------------------------------------------------------- 3. complete grids
@pytest.mark.realdata
def test_grib_cut_at_a_message_boundary_is_an_error(real_data_root, specdir, tmp_path):
    from stbench.datasets.formats_grid import check_grib_complete

    src = real_data_root / GRIB
    if not src.is_file():
        pytest.skip(f"real data file missing: {src}")
    spans = check_grib_complete(src)
    half = spans[len(spans) // 2][0]            # the first half of the messages, cut between two
    root = tmp_path / "root"
    (root / "WEATHER").mkdir(parents=True)
    (root / "WEATHER" / src.name).write_bytes(src.read_bytes()[:half])
    assert len(check_grib_complete(root / "WEATHER" / src.name)) == len(spans) // 2  # a valid GRIB file

    opts = {"options": {"variable": "t2m", "time_coord": "valid_time"}}
    # no size, no sha256, no time.steps: cannot be told from a whole file -> refused
    write_spec(specdir, "HALF", "grib_grid", {"series": src.name}, folder="WEATHER", time={"step_minutes": 60}, **opts)
    with pytest.raises(DataError, match=r"HALF: .*GRIB file cut between two messages .* time\.steps"):
        D.load_raw("HALF", root)
    # time.steps given: the short time axis is the error
    write_spec(specdir, "HALF", "grib_grid", {"series": src.name}, folder="WEATHER",
               time={"step_minutes": 60, "steps": len(spans)}, **opts)
    with pytest.raises(DataError, match=rf"HALF .*{len(spans) // 2} time steps in the file, expected {len(spans)}"):
        D.load_raw("HALF", root)
    # the registered ERA5-UK-T2M records the size: caught before reading
    with pytest.raises(DataError, match=rf"size mismatch .*{half} bytes, expected {src.stat().st_size}"):
        D.load_raw("ERA5-UK-T2M", root)


def test_netcdf_without_size_is_checked_for_an_empty_tail(specdir, tmp_path):
    import xarray as xr

    T, H, W = 10, 3, 4
    vals = np.arange(T * H * W, dtype=np.float32).reshape(T, H, W)
    vals[-2:] = np.nan                                  # the last two steps were never written
    times = np.datetime64("2020-01-01T00:00", "ns") + np.arange(T) * np.timedelta64(1, "h")
    root = tmp_path / "root" / "G"
    root.mkdir(parents=True)
    xr.Dataset({"t": (("time", "lat", "lon"), vals)},
               coords={"time": times, "lat": np.arange(H), "lon": np.arange(W)}).to_netcdf(root / "g.nc")
    write_spec(specdir, "G", "netcdf_grid", {"series": "g.nc"}, time={"step_minutes": 60})
    with pytest.raises(DataError, match=r"g\.nc: the last 2 of 10 time steps are empty"):
        D.load_raw("G", tmp_path / "root")
    vals[-2:] = 1.0
    uneven = times.copy()
    uneven[-1] += np.timedelta64(1, "h")                # a 2-hour last step
    xr.Dataset({"t": (("time", "lat", "lon"), vals)}, coords={"time": uneven}).to_netcdf(root / "g.nc")
    with pytest.raises(DataError, match=r"irregular time step"):
        D.load_raw("G", tmp_path / "root")
    xr.Dataset({"t": (("time", "lat", "lon"), vals)}, coords={"time": times}).to_netcdf(root / "g.nc")
    write_spec(specdir, "G", "netcdf_grid", {"series": "g.nc"}, time={"step_minutes": 60, "steps": 12})
    with pytest.raises(DataError, match=r"10 time steps in the file, expected 12 \(time\.steps"):
        D.load_raw("G", tmp_path / "root")
    write_spec(specdir, "G", "netcdf_grid", {"series": "g.nc"}, time={"step_minutes": 60, "steps": 10})
    assert D.load_raw("G", tmp_path / "root").num_steps == 10


# ----------------------------------------------------------------------------- 4. broken YAML
def test_a_broken_data_set_yaml_breaks_only_itself(specdir, tmp_path, capsys):
    tiny_tgcn(tmp_path / "root" / "GOOD")
    write_spec(specdir, "GOOD", "tgcn_csv", {"series": "speed.csv", "graph": "adj.csv"}, time=TIME5)
    write_spec(specdir, "BAD", "tgcn_csv", {"series": "speed.csv", "graph": "adj.csv"}, time=TIME5,
               split=[0.7, 0.1, 0.1])
    (specdir / "ugly.yaml").write_text("name: [unclosed\n")

    names = D.dataset_names()
    assert "GOOD" in names and "BAD" not in names and "SYNTHETIC" in names
    broken = broken_datasets()
    assert set(broken) == {"BAD", "UGLY"}
    assert re.match(rf"{re.escape(str(specdir / 'BAD.yaml'))}: split: expected three", broken["BAD"])
    assert "ugly.yaml: not valid YAML" in broken["UGLY"] and "\n" not in broken["UGLY"]
    assert D.load_raw("GOOD", tmp_path / "root").num_nodes == 3
    with pytest.raises(SpecError, match=r"data set BAD is broken: .*BAD\.yaml: split"):
        D.load_raw("bad", tmp_path / "root")
    with pytest.raises(UnknownDataset) as e:
        D.dataset_spec("NOPE")
    msg = str(e.value)
    assert isinstance(e.value, KeyError) and isinstance(e.value, DataError)
    assert "valid choices: " in msg and "GOOD" in msg and "STBENCH_DATASET_CONFIGS" in msg
    assert "--dataset-config DIR" in msg and not msg.startswith("'")

    assert data_cli(["data", "list", "--data-root", str(tmp_path / "root")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^GOOD +tgcn_csv +yes ", out, re.M)
    assert re.search(r"^BAD +BROKEN +- +.*BAD\.yaml: split: expected three", out, re.M)
    assert data_cli(["data", "list", "--json", "--data-root", str(tmp_path / "root")]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["datasets"]}
    assert rows["GOOD"]["broken"] is None and rows["UGLY"]["broken"].startswith(str(specdir / "ugly.yaml"))
    assert data_cli(["data", "info", "BAD"]) == 2
    assert capsys.readouterr().err.startswith("error: data set BAD is broken: ")


# ----------------------------------------------------------------------------- 5. data CLI messages
def test_download_failure_mentions_a_part_file_only_when_there_is_one(tmp_path):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dest = tmp_path / "d" / "f.bin"
    with pytest.raises(DataError) as e:
        dl.download_file(f"http://127.0.0.1:{port}/f.bin", dest, timeout=5)
    assert "part file" not in str(e.value) and "nothing was written" in str(e.value)
    assert not (tmp_path / "d" / "f.bin.part").exists()
    (tmp_path / "d" / "f.bin.part").write_bytes(b"12345")
    with pytest.raises(DataError, match=r"the part file .*f\.bin\.part \(5 bytes\) is kept"):
        dl.download_file(f"http://127.0.0.1:{port}/f.bin", dest, timeout=5)


def test_data_help_is_plain_text(capsys):
    with pytest.raises(SystemExit):
        data_cli(["data", "--help"])
    out = capsys.readouterr().out
    assert "data download NAME" in out and "STBENCH_DATASET_CONFIGS" in out
    assert "``" not in out and ":class:" not in out


# ----------------------------------------------------------------------------- 6. dirty flag
def test_untracked_suite_files_make_the_checkout_dirty(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    repo = tmp_path / "repo"
    (repo / "pruning").mkdir(parents=True)
    (repo / "pruning" / "a.py").write_text("x = 1\n")
    (repo / ".gitignore").write_text("*.log\n")

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                       capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "init")
    assert git_state_now(repo) == {"commit": git_state_now(repo)["commit"], "dirty": False}
    (repo / "notes.txt").write_text("not suite code\n")         # untracked outside the suite
    (repo / "pruning" / "debug.log").write_text("ignored\n")    # ignored
    assert git_state_now(repo)["dirty"] is False
    (repo / "pruning" / "hardest.py").write_text("y = 2\n")     # a new strategy, not committed
    assert git_state_now(repo)["dirty"] is True
    (repo / "pruning" / "hardest.py").unlink()
    (repo / "configs" / "pruners").mkdir(parents=True)
    (repo / "configs" / "pruners" / "hardest.yaml").write_text("name: hardest\n")
    assert git_state_now(repo)["dirty"] is True
    shutil.rmtree(repo / "configs")
    (repo / "pruning" / "a.py").write_text("x = 2\n")           # a tracked change
    assert git_state_now(repo)["dirty"] is True
    plain = tmp_path / "plain"
    plain.mkdir()
    assert git_state_now(plain) == {"commit": None, "dirty": None}  # not a checkout
    assert set(SUITE_PATHS) >= {"benchmarks", "datasets", "models", "pruning", "configs", "run_benchmark.py"}


# ----------------------------------------------------------------------------- 7. compare
def test_compare_reports_runs_found_in_only_one_directory(tmp_path):
    def put(root, run_id):
        (root / "runs" / run_id).mkdir(parents=True)
        (root / "runs" / run_id / "metrics.json").write_text(json.dumps({"best_epoch": 1, "test": {"mae": 1.0}}))

    a, b = tmp_path / "a", tmp_path / "b"
    for r in ("r1", "r2", "r3"):
        put(a, r)
    for r in ("r1", "r4"):
        put(b, r)
    res = compare_dirs(a, b)
    assert res["common"] == ["r1"] and res["only_a"] == ["r2", "r3"] and res["only_b"] == ["r4"]
    assert summary_line(res, "A", "B") == ("1 of 1 common run(s) match exactly; 2 run(s) only in A; "
                                           "1 run(s) only in B")
    assert one_sided_lines(res, "A", "B") == ["only in A: r2", "only in A: r3", "only in B: r4"]


# ----------------------------------------------------------------------------- 8. constraints
def _closure(root: str, extras=()) -> dict:
    """{canonical name: installed version} of every distribution ``root[extras]`` pulls in."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: dict = {}
    todo = [(root, frozenset(extras))]
    done = set()
    while todo:
        name, ext = todo.pop()
        key = (canonicalize_name(name), ext)
        if key in done:
            continue
        done.add(key)
        dist = md.distribution(name)
        seen[canonicalize_name(name)] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in (ext or {""})):
                continue
            todo.append((req.name, frozenset(req.extras)))
    return seen


def test_constraints_pin_the_whole_installed_closure():
    from packaging.specifiers import SpecifierSet
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            m = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+)", line)
            assert m, f"constraints.txt: not an exact pin NAME==VERSION: {line!r}"
            pins[canonicalize_name(m.group(1))] = m.group(2)
    assert "stbench" not in pins
    closure = _closure("stbench", ["dev"])
    closure.pop("stbench")
    assert {"torch", "pytest", "cfgrib", "pyyaml", "packaging"} <= set(closure)
    unpinned = sorted(set(closure) - set(pins))
    drifted = [f"{n} {v} (pinned {pins[n]})" for n, v in sorted(closure.items())
               if n in pins and not SpecifierSet(f"=={pins[n]}").contains(v, prereleases=True)]
    if unpinned and drifted and os.environ.get("CI", "").lower() != "true":
        pytest.skip(f"this environment was not installed from constraints.txt ({', '.join(drifted[:3])}), so "
                    f"its closure may differ; run python -m pip install -c constraints.txt -e '.[dev]'")
    assert not unpinned, f"constraints.txt lacks pins for installed dependencies of stbench[dev]: {unpinned}"


# ----------------------------------------------------------------------------- 9. docs example in a checkout
def test_docs_strategy_example_and_determinism_test_survive_the_example_being_added():
    """As if the reader saved the docs' ``hardest`` example as pruning/hardest.py."""
    import re as _re

    from stbench.pruning import PRUNERS

    spec = importlib.util.spec_from_file_location("_tp", REPO / "tests" / "test_pruners.py")
    tp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tp)
    text = (REPO / "docs" / "pruning.md").read_text()
    code = next(b for b in _re.findall(r"```python\n(.*?)```", text, flags=_re.S) if "register_pruner(" in b)
    saved = dict(PRUNERS._items)
    try:
        exec(compile(code, "pruning/hardest.py", "exec"), {})   # already registered, as in a checkout
        assert "hardest" in PRUNERS
        tp.test_docs_example_strategy_runs()                     # no "registered twice"
        assert PRUNERS._items == {**saved, "hardest": PRUNERS._items["hardest"]}
        tp.test_same_seed_same_indices_and_different_seed_differs("hardest", {})  # not assumed random
        assert tp.uses_randomness("hardest", {}) is None
        assert tp.uses_randomness("random", {}) is True and tp.uses_randomness("full", {}) is False
    finally:
        PRUNERS._items.clear()
        PRUNERS._items.update(saved)
