"""UrbanEV reader (datasets/formats_urbanev.py) with the real graph files.

The real ``adj.csv`` / ``distance.csv`` of ../shared/data/URBANEV-GRAPH are copied into a
temporary data root next to series files built in UrbanEV's layout (a ``time`` index
column, then one column per zone id of adj.csv's header, hourly from 2022-09-01 00:00 to
2023-02-28 23:00 = 4,344 rows), so the shipped YAMLs load as they are.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from stbench import datasets as D
from stbench.datasets.base import DataError
from stbench.datasets.download import file_sha256

from conftest import shared_data_root

GRAPH = shared_data_root() / "URBANEV-GRAPH"
STEPS = 4344
pytestmark = pytest.mark.realdata


def write_series(path: Path, ids, steps: int = STEPS, seed: int = 0, columns=None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2022-09-01 00:00", periods=steps, freq="h")
    vals = rng.gamma(2.0, 10.0, size=(steps, len(ids))).round(2)
    vals[rng.uniform(size=vals.shape) < 0.1] = 0.0           # zero = no charging, a real reading
    df = pd.DataFrame(vals, index=pd.Index(idx.strftime("%Y-%m-%d %H:%M"), name="time"), columns=list(ids))
    (df if columns is None else df[columns]).to_csv(path)
    return df


@pytest.fixture(scope="module")
def urbanev(tmp_path_factory):
    if not (GRAPH / "adj.csv").is_file():
        pytest.skip(f"no {GRAPH}/adj.csv (set STBENCH_DATA)")
    root = tmp_path_factory.mktemp("urbanev") / "data"
    folder = root / "URBANEV"
    folder.mkdir(parents=True)
    for f in ("adj.csv", "distance.csv", "inf.csv"):
        shutil.copy(GRAPH / f, folder / f)
    ids = list(pd.read_csv(GRAPH / "adj.csv", nrows=0).columns)
    frame = write_series(folder / "occupancy.csv", ids)
    for key in ("volume", "duration"):  # the same layout: one file serves the three readers
        (folder / f"{key}.csv").symlink_to(folder / "occupancy.csv")
    return root, ids, {k: frame for k in ("occupancy", "volume", "duration")}


@pytest.mark.parametrize("key", ["occupancy", "volume", "duration"])
def test_loads_with_the_real_graph(urbanev, key):
    root, ids, frames = urbanev
    r = D.load_raw(f"URBANEV-{key.upper()}", root)
    adj = pd.read_csv(GRAPH / "adj.csv").to_numpy(np.float32)
    assert r.num_nodes == 275 and r.node_ids == ids and r.num_steps == STEPS
    assert r.step_minutes == 60 and r.timestamps[0] == np.datetime64("2022-09-01T00:00", "ns")
    assert r.timestamps[-1] == np.datetime64("2023-02-28T23:00", "ns")
    np.testing.assert_array_equal(r.adj, adj)                         # adj.csv as published
    np.testing.assert_allclose(r.values, frames[key].to_numpy(np.float32))
    assert r.null_value is None and r.valid_mask().all()              # zeros are readings


def test_split_and_download_entries(urbanev):
    root, _, _ = urbanev
    data = D.load_windowed("URBANEV-OCCUPANCY", root)
    n = STEPS - 23
    assert [data.num_windows(s) for s in ("train", "val", "test")] == \
        [round(0.8 * n), round(0.1 * n), n - round(0.8 * n) - round(0.1 * n)]
    spec = D.dataset_spec("URBANEV-VOLUME")
    assert spec["split"] == [0.8, 0.1, 0.1] and spec["time"]["steps"] == STEPS
    assert spec["files"]["series"]["url"].startswith("https://raw.githubusercontent.com/IntelligentSystemsLab/UrbanEV/")
    assert spec["files"]["graph"]["sha256"] == file_sha256(GRAPH / "adj.csv", persist=False)


def test_shuffled_columns_are_put_in_graph_order(urbanev, tmp_path):
    root, ids, frames = urbanev
    new = _case_root(root, tmp_path)
    cols = list(reversed(ids))
    _replace(new / "URBANEV" / "occupancy.csv", frame=frames["occupancy"][cols])
    r = D.load_raw("URBANEV-OCCUPANCY", new)
    assert r.node_ids == ids and r.extra["columns_reordered"]
    np.testing.assert_allclose(r.values, frames["occupancy"].to_numpy(np.float32))


def test_distance_kernel_graph(urbanev, tmp_path, monkeypatch):
    root, ids, _ = urbanev
    spec = yaml.safe_load((D.registry.CONFIG_DIR / "URBANEV-OCCUPANCY.yaml").read_text())
    spec["name"] = "URBANEV-DIST"
    spec["files"]["distance"] = {"path": "distance.csv"}
    spec["graph"] = {"source": "distance", "self_loops": False, "threshold": 0.1}
    (tmp_path / "URBANEV-DIST.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("STBENCH_DATASET_CONFIGS", str(tmp_path))
    r = D.load_raw("URBANEV-DIST", root)
    d = pd.read_csv(GRAPH / "distance.csv").to_numpy(np.float64)
    w = np.exp(-np.square(d / d.std()))
    w[w < 0.1] = 0
    np.fill_diagonal(w, 0)
    np.testing.assert_allclose(r.adj, w.astype(np.float32), rtol=1e-6)
    assert (r.adj > 0).sum() > 275


def _case_root(root: Path, tmp_path: Path) -> Path:
    """A data root of symbolic links to the fixture's files (replace a file to break it)."""
    new = tmp_path / "data" / "URBANEV"
    new.mkdir(parents=True)
    for f in (root / "URBANEV").iterdir():
        (new / f.name).symlink_to(f)
    return new.parent


def _replace(path: Path, text=None, frame=None) -> None:
    """Write a new file where a link was (never through it)."""
    path.unlink()
    if frame is not None:
        frame.to_csv(path)
    else:
        path.write_text(text)


@pytest.mark.parametrize("case, pattern", [
    ("missing", r"URBANEV-OCCUPANCY: missing file .*URBANEV/occupancy\.csv; run `python run_benchmark\.py "
                r"data download URBANEV-OCCUPANCY --data-root .*` or fetch https://raw\.githubusercontent\.com/"),
    ("truncated", r"URBANEV-OCCUPANCY \(.*occupancy\.csv.*\): 2\d{3} time steps in the file, expected 4344"),
    ("zone", r"occupancy\.csv: 275 zone columns but .*adj\.csv lists 275 zones; columns not in the graph: "
             r"\['999999'\]"),
    ("adj_truncated", r"adj\.csv: adjacency matrix must be square: 275 zone ids in the header but \d+ rows"),
    ("adj_checksum", r"URBANEV-OCCUPANCY: size mismatch for .*adj\.csv: \d+ bytes, expected 152420"),
    ("text", r"occupancy\.csv: cannot read numeric zone values"),
    ("gap", r"URBANEV-OCCUPANCY \(.*\): irregular time step at row 100"),
])
def test_bad_inputs(urbanev, tmp_path, monkeypatch, case, pattern):
    root, ids, frames = urbanev
    new = _case_root(root, tmp_path)
    f = new / "URBANEV" / "occupancy.csv"
    df = frames["occupancy"].copy()
    if case == "missing":
        f.unlink()
    elif case == "truncated":
        text = f.read_text()
        _replace(f, text[: len(text) // 2])
    elif case == "zone":
        df.columns = ids[:-1] + ["999999"]
        _replace(f, frame=df)
    elif case in ("adj_truncated", "adj_checksum"):
        a = new / "URBANEV" / "adj.csv"
        lines = a.read_text().splitlines()
        _replace(a, "\n".join(lines[:200]) + "\n")
        if case == "adj_truncated":  # a user copy without a recorded checksum
            spec = yaml.safe_load((D.registry.CONFIG_DIR / "URBANEV-OCCUPANCY.yaml").read_text())
            spec["files"]["graph"].pop("sha256")
            spec["files"]["graph"].pop("size")
            d = tmp_path / "specs"
            d.mkdir()
            (d / "URBANEV-OCCUPANCY.yaml").write_text(yaml.safe_dump(spec))
            monkeypatch.setenv("STBENCH_DATASET_CONFIGS", str(d))
    elif case == "text":
        df = df.astype(object)
        df.iloc[5, 3] = "n/a?"
        _replace(f, frame=df)
    elif case == "gap":
        _replace(f, frame=df.drop(index=df.index[100]))
    with pytest.raises(DataError, match=pattern) as e:
        D.load_raw("URBANEV-OCCUPANCY", new)
    assert "\n" not in str(e.value)
