"""Data layer without real data: registry and YAML validation, graphs, the synthetic set,
readers on small files in the published layouts, and every bad-input case."""
from __future__ import annotations

import argparse
import json
import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from stbench import datasets as D
from stbench.datasets import graphs
from stbench.datasets.base import DataError
from stbench.datasets.registry import SpecError, broken_datasets

CANONICAL = ["METR-LA", "PEMS-BAY", "PEMS03", "PEMS04", "PEMS07", "PEMS08", "LOS-LOOP",
             "HANGZHOU-METRO", "AQI36", "ERA5-UK-T2M", "WFDE5-UK-TAIR", "SYNTHETIC"]


# ----------------------------------------------------------------------------- helpers
@pytest.fixture
def specdir(tmp_path, monkeypatch):
    """An extra YAML directory (STBENCH_DATASET_CONFIGS) and a writer for specs in it."""
    d = tmp_path / "specs"
    d.mkdir()
    monkeypatch.setenv("STBENCH_DATASET_CONFIGS", str(d))

    def write(name, fmt, files=None, **extra):
        spec = {"name": name, "format": fmt, "folder": name, "split": [0.7, 0.1, 0.2],
                "citation": "test", **extra}
        if files is not None:
            spec["files"] = {role: (f if isinstance(f, dict) else {"path": f}) for role, f in files.items()}
        (d / f"{name}.yaml").write_text(yaml.safe_dump(spec))
        return spec

    return write


def write_tgcn(folder: Path, T=60, N=5, adj=None, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vals = rng.uniform(10, 70, size=(T, N)).round(3)
    pd.DataFrame(vals, columns=[f"{700000 + i}" for i in range(N)]).to_csv(folder / "speed.csv", index=False)
    adj = np.eye(N) if adj is None else adj
    pd.DataFrame(adj).to_csv(folder / "adj.csv", index=False, header=False)
    return vals


def write_h5_pickle(folder: Path, T=50, N=4, ids=None, cols=None, adj=None, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    ids = ids or [str(400000 + i) for i in range(N)]
    cols = cols or ids
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2017-01-01", periods=T, freq="5min")
    df = pd.DataFrame(rng.uniform(0, 70, size=(T, len(cols))), index=idx, columns=cols)
    df.to_hdf(folder / "series.h5", key="speed")
    adj = np.eye(len(ids), dtype=np.float32) if adj is None else adj
    with open(folder / "adj.pkl", "wb") as f:
        pickle.dump([ids, {s: i for i, s in enumerate(ids)}, adj], f, protocol=2)
    return df


TGCN_FILES = {"series": "speed.csv", "graph": "adj.csv"}
H5_FILES = {"series": "series.h5", "graph": "adj.pkl"}
TIME5 = {"start": "2012-03-01 00:00", "step_minutes": 5}


# ----------------------------------------------------------------------------- registry
def test_every_canonical_data_set_is_registered():
    assert set(CANONICAL) <= set(D.dataset_names())
    assert D.dataset_spec("metr-la")["name"] == "METR-LA"  # case-insensitive
    for name in CANONICAL:
        spec = D.dataset_spec(name)
        assert spec["citation"] and spec["format"] in D.FORMATS
    splits = {n: D.dataset_spec(n)["split"] for n in CANONICAL}
    assert all(splits[n] == [0.6, 0.2, 0.2] for n in ("PEMS03", "PEMS04", "PEMS07", "PEMS08"))
    assert all(splits[n] == [0.7, 0.1, 0.2] for n in CANONICAL if not n.startswith("PEMS0"))
    assert D.dataset_spec("PEMS04")["null_value"] == 0 and D.dataset_spec("AQI36")["null_value"] is None
    assert D.dataset_spec("PEMS08")["time"]["start"].startswith("2016-07-01")
    with pytest.raises(KeyError, match="valid choices"):
        D.dataset_spec("NOPE")


@pytest.mark.realdata
def test_shared_checksums_match_the_yaml(real_data_root):
    """The sha256 in the YAMLs are those listed in the shared data root's SHA256SUMS."""
    sums = real_data_root / "SHA256SUMS"
    if not sums.is_file():
        pytest.skip(f"no {sums}")
    listed = dict(reversed(line.split()) for line in sums.read_text().splitlines() if line.strip())
    checked = 0
    for name in CANONICAL:
        spec = D.dataset_spec(name)
        for f in spec["files"].values():
            key = f"{spec['folder']}/{f['path']}"
            if key in listed:
                assert f["sha256"] == listed[key], key
                checked += 1
    assert checked >= 15


def test_resolve_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("STBENCH_DATA", str(tmp_path / "env"))
    assert D.resolve_data_root(str(tmp_path / "cli")) == tmp_path / "cli"
    assert D.resolve_data_root() == tmp_path / "env"
    monkeypatch.delenv("STBENCH_DATA")
    assert D.resolve_data_root() == Path("data")


@pytest.mark.parametrize("mutate,match", [
    (lambda s: s.update(colour="red"), r"unknown key 'colour'; valid keys: .*citation"),
    (lambda s: s.update(split="0.7,0.1,0.2"), r"split: expected a list"),
    (lambda s: s.update(split=[0.7, 0.2, 0.2]), r"split: expected three non-negative numbers"),
    (lambda s: s.update(format="parquet"), r"unknown data format 'parquet'; valid choices: .*dcrnn_h5"),
    (lambda s: s.pop("citation"), r"missing required key 'citation'"),
    (lambda s: s.update(graph={"neighbourhood": 6}), r"graph.neighbourhood: 6 is not a valid choice; valid choices: 4, 8"),
    (lambda s: s.update(graph={"neighborhood": 4}), r"unknown key 'graph.neighborhood'; valid keys under graph: neighbourhood"),
    (lambda s: s.update(options={"variable": 3}), r"options.variable: expected a string"),
    (lambda s: s.update(null_value="zero"), r"null_value: expected a number"),
    (lambda s: s.update(files={"series": {"path": "a.nc", "md5": "x"}}), r"unknown key 'files.series.md5'; valid keys under files.series: parts, path, sha256, size, source, url"),
    (lambda s: s.update(files={"series": {"path": "a.nc"}, "graph": {"path": "g"}}), r"unknown file role 'graph'.*valid roles: series"),
    (lambda s: s.update(files={"series": {"path": "a.nc", "sha256": "abc"}}), r"sha256 must be 64 hex"),
    (lambda s: s.update(time={"start": "yesterday", "step_minutes": 60}), r"time.start: not a date-time"),
])
def test_yaml_validation_names_file_key_and_choices(specdir, tmp_path, mutate, match):
    spec = {"name": "BAD-GRID", "format": "netcdf_grid", "files": {"series": {"path": "a.nc"}},
            "split": [0.7, 0.1, 0.2], "citation": "x", "graph": {"neighbourhood": 4}}
    mutate(spec)
    path = tmp_path / "specs" / "BAD-GRID.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert "BAD-GRID" not in D.dataset_names()  # a broken YAML breaks only itself
    with pytest.raises(SpecError, match=match) as err:
        D.dataset_spec("BAD-GRID")
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert re.search(match, broken_datasets()["BAD-GRID"])


def test_format_without_timestamps_needs_time(specdir):
    specdir("NO-TIME", "tgcn_csv", TGCN_FILES)
    with pytest.raises(SpecError, match="has no timestamps in its files"):
        D.dataset_spec("NO-TIME")


def test_new_data_set_is_a_yaml_file_only(specdir, tmp_path):
    """A data set in a known format needs nothing but a YAML (here in STBENCH_DATASET_CONFIGS)."""
    vals = write_tgcn(tmp_path / "root" / "MY-LOOP", T=80, N=6)
    specdir("MY-LOOP", "tgcn_csv", TGCN_FILES, null_value=0, time=TIME5)
    assert "MY-LOOP" in D.dataset_names() and D.dataset_present("my-loop", tmp_path / "root")
    w = D.load_windowed("my-loop", tmp_path / "root")
    np.testing.assert_allclose(w.raw.values, vals.astype(np.float32))
    assert w.info()["nodes"] == 6 and w.info()["windows"]["train"] == round(57 * 0.7)
    w2 = D.load_windowed("MY-LOOP", tmp_path / "root", max_steps=40, split=(0.5, 0.25, 0.25))
    assert w2.raw.num_steps == 40 and w2.num_windows("train") == round(17 * 0.5)


# ----------------------------------------------------------------------------- graphs
def test_gaussian_kernel_and_edge_lists():
    d = np.array([[0, 1, np.inf], [1, 0, 3], [np.inf, 3, 0]], dtype=float)
    w = graphs.gaussian_kernel(d, sigma=2.0, threshold=0.1)
    assert w[0, 1] == pytest.approx(np.exp(-0.25)) and w[0, 2] == 0 and w[0, 0] == 1
    assert w[1, 2] == pytest.approx(np.exp(-2.25))
    assert graphs.gaussian_kernel(d, sigma=2.0, threshold=0.2)[1, 2] == 0  # exp(-2.25) = 0.105
    src, dst, cost = np.array([0, 1]), np.array([1, 3]), np.array([2.0, 4.0])
    b = graphs.edge_list_adjacency(src, dst, cost, 4, weight="binary")
    assert b[0, 1] == b[1, 0] == 1 and b[1, 3] == b[3, 1] == 1 and graphs.count_edges(b) == 4
    directed = graphs.edge_list_adjacency(src, dst, cost, 4, weight="cost", symmetric=False)
    assert directed[1, 3] == 4 and directed[3, 1] == 0
    g = graphs.edge_list_adjacency(src, dst, cost, 4, weight="gaussian", threshold=0.0)
    assert g[0, 1] == pytest.approx(np.exp(-(2 / 1.0) ** 2))  # sigma = std([2, 4]) = 1


def test_grid_neighbourhoods_skip_dropped_cells():
    keep = np.ones((3, 3), dtype=bool)
    assert graphs.count_edges(graphs.grid_adjacency(keep, 4)) == 2 * 12  # 12 undirected grid links
    assert graphs.count_edges(graphs.grid_adjacency(keep, 8)) == 2 * (12 + 8)
    keep[1, 1] = False  # the centre cell is sea
    a4 = graphs.grid_adjacency(keep, 4)
    assert a4.shape == (8, 8) and graphs.count_edges(a4) == 2 * 8
    assert (a4 == a4.T).all() and np.trace(a4) == 0


def test_haversine():
    d = graphs.haversine_km(np.array([0.0, 0.0, 51.5]), np.array([0.0, 1.0, -0.12]))
    assert d[0, 1] == pytest.approx(111.19, rel=1e-3) and d[0, 0] == 0 and d[1, 2] == pytest.approx(d[2, 1])


# ----------------------------------------------------------------------------- synthetic
def test_synthetic_is_deterministic_road_like_and_needs_no_files(monkeypatch, tmp_path):
    monkeypatch.setenv("STBENCH_DATA", str(tmp_path / "empty"))
    a, b = D.load_raw("SYNTHETIC"), D.load_raw("synthetic")
    np.testing.assert_array_equal(a.values, b.values)
    assert a.values.shape == (14 * 288, 40) and a.adj.shape == (40, 40)
    assert (a.adj == a.adj.T).all() and np.isfinite(a.adj).all() and graphs.count_edges(a.adj) > 40
    zeros = (a.values == 0).mean()
    assert 0.001 < zeros < 0.2  # sensor dropouts written as the null value
    v = np.where(a.values == 0, np.nan, a.values)
    hour = (np.arange(len(v)) % 288) // 12
    weekday = (np.arange(len(v)) // 288) % 7 < 5  # 2024-01-01 is a Monday
    rush = np.nanmean(v[weekday & ((hour == 8) | (hour == 17))])
    night = np.nanmean(v[weekday & (hour == 3)])
    weekend_8 = np.nanmean(v[~weekday & (hour == 8)])
    assert rush < night - 10 and weekend_8 > rush + 10
    w = D.load_windowed("SYNTHETIC")
    assert w.num_windows("train") + w.num_windows("val") + w.num_windows("test") == 14 * 288 - 23


def test_synthetic_size_and_seed_from_yaml(specdir):
    specdir("SYN-SMALL", "synthetic", null_value=0, time={"start": "2024-01-01 00:00", "step_minutes": 10},
            options={"nodes": 12, "days": 3, "seed": 5})
    specdir("SYN-OTHER", "synthetic", null_value=0, time={"start": "2024-01-01 00:00", "step_minutes": 10},
            options={"nodes": 12, "days": 3, "seed": 6})
    a, b = D.load_raw("SYN-SMALL"), D.load_raw("SYN-OTHER")
    assert a.values.shape == (3 * 144, 12) and a.step_minutes == 10
    assert not np.array_equal(a.values, b.values)


# ----------------------------------------------------------------------------- readers
def test_dcrnn_h5_reads_and_reorders_columns(specdir, tmp_path):
    root = tmp_path / "root"
    ids = ["400001", "400017", "400030", "400040"]
    df = write_h5_pickle(root / "T-H5", ids=ids, cols=[ids[2], ids[0], ids[3], ids[1]])
    specdir("T-H5", "dcrnn_h5", H5_FILES, null_value=0)
    raw = D.load_raw("T-H5", root)
    assert raw.node_ids == ids and raw.extra["columns_reordered"]
    np.testing.assert_allclose(raw.values, df[ids].to_numpy(np.float32))
    assert raw.step_minutes == 5 and str(raw.timestamps[0]).startswith("2017-01-01")


def test_dcrnn_h5_integer_columns_match_string_ids(specdir, tmp_path):
    root = tmp_path / "root"
    ids = ["400001", "400017"]
    folder = root / "T-H5"
    write_h5_pickle(folder, ids=ids)
    df = pd.read_hdf(folder / "series.h5")
    df.columns = [int(c) for c in df.columns]
    df.to_hdf(folder / "series.h5", key="speed")
    specdir("T-H5", "dcrnn_h5", H5_FILES, null_value=0)
    assert D.load_raw("T-H5", root).node_ids == ids


def test_pems_npz_with_raw_sensor_ids(specdir, tmp_path):
    folder = tmp_path / "root" / "T-PEMS"
    folder.mkdir(parents=True)
    data = np.random.default_rng(0).uniform(0, 300, size=(40, 3, 3))
    np.savez(folder / "x.npz", data=data)
    (folder / "x.csv").write_text("from,to,distance\n317842,318711,0.872\n318711,313344,1.3\n")
    (folder / "ids.txt").write_text("313344\n317842\n318711\n")
    specdir("T-PEMS", "pems_npz", {"series": "x.npz", "graph": "x.csv", "ids": "ids.txt"}, null_value=0,
            time={"start": "2018-09-01 00:00", "step_minutes": 5}, graph={"weight": "cost"})
    raw = D.load_raw("T-PEMS", tmp_path / "root")
    np.testing.assert_allclose(raw.values, data[..., 0].astype(np.float32))
    assert raw.adj[1, 2] == pytest.approx(0.872) and raw.adj[2, 0] == pytest.approx(1.3)
    assert raw.adj[0, 2] == pytest.approx(1.3) and graphs.count_edges(raw.adj) == 4


# ----------------------------------------------------------------------------- bad input
def test_missing_file_names_path_and_command(specdir, tmp_path):
    specdir("T-MISS", "tgcn_csv", {"series": {"path": "speed.csv", "url": "https://example.org/speed.csv"},
                                   "graph": "adj.csv"}, time=TIME5)
    with pytest.raises(DataError) as err:
        D.load_raw("T-MISS", tmp_path / "root")
    msg = str(err.value)
    assert str(tmp_path / "root" / "T-MISS" / "speed.csv") in msg
    assert "python run_benchmark.py data download T-MISS" in msg and "https://example.org/speed.csv" in msg


def test_missing_standard_file_names_exact_path(tmp_path):
    with pytest.raises(DataError) as err:
        D.load_raw("METR-LA", tmp_path)
    assert str(tmp_path / "METR-LA" / "metr-la.h5") in str(err.value)
    assert "data download METR-LA" in str(err.value)


def _corrupt(path: Path, mode: str):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if mode == "truncate" else b"\x89HDF garbage " * 40)


@pytest.mark.parametrize("mode", ["truncate", "garbage"])
def test_corrupt_h5(specdir, tmp_path, mode):
    write_h5_pickle(tmp_path / "root" / "T-H5")
    _corrupt(tmp_path / "root" / "T-H5" / "series.h5", mode)
    specdir("T-H5", "dcrnn_h5", H5_FILES, null_value=0)
    with pytest.raises(DataError, match=r"series\.h5: cannot read pandas HDF store"):
        D.load_raw("T-H5", tmp_path / "root")


@pytest.mark.parametrize("mode", ["truncate", "garbage"])
def test_corrupt_pickle(specdir, tmp_path, mode):
    write_h5_pickle(tmp_path / "root" / "T-H5")
    _corrupt(tmp_path / "root" / "T-H5" / "adj.pkl", mode)
    specdir("T-H5", "dcrnn_h5", H5_FILES, null_value=0)
    with pytest.raises(DataError, match=r"adj\.pkl: cannot read DCRNN adjacency pickle"):
        D.load_raw("T-H5", tmp_path / "root")


def test_h5_columns_not_the_graph_ids(specdir, tmp_path):
    write_h5_pickle(tmp_path / "root" / "T-H5", ids=["1", "2", "3"], cols=["1", "2", "9"])
    specdir("T-H5", "dcrnn_h5", H5_FILES, null_value=0)
    with pytest.raises(DataError, match=r"series\.h5: columns are not the sensor ids of .*adj\.pkl"):
        D.load_raw("T-H5", tmp_path / "root")


def test_h5_and_graph_node_counts_disagree(specdir, tmp_path):
    write_h5_pickle(tmp_path / "root" / "T-H5", ids=["1", "2", "3"], cols=["1", "2"])
    specdir("T-H5", "dcrnn_h5", H5_FILES, null_value=0)
    with pytest.raises(DataError, match=r"adj\.pkl: graph has 3 nodes but the series in .*series\.h5 has 2"):
        D.load_raw("T-H5", tmp_path / "root")


def test_inf_in_pickled_graph(specdir, tmp_path):
    adj = np.eye(4, dtype=np.float32)
    adj[1, 2] = np.inf
    write_h5_pickle(tmp_path / "root" / "T-H5", adj=adj)
    specdir("T-H5", "dcrnn_h5", H5_FILES, null_value=0)
    with pytest.raises(DataError, match=r"adj\.pkl: graph contains NaN or inf \(first at row 1, column 2\)"):
        D.load_raw("T-H5", tmp_path / "root")


@pytest.mark.parametrize("bad", ["nan", "size"])
def test_tgcn_graph_nan_or_wrong_node_count(specdir, tmp_path, bad):
    adj = np.eye(5)
    if bad == "nan":
        adj[0, 3] = np.nan
    else:
        adj = np.eye(4)
    write_tgcn(tmp_path / "root" / "T-CSV", adj=adj)
    specdir("T-CSV", "tgcn_csv", TGCN_FILES, time=TIME5)
    match = r"adj\.csv: graph contains NaN" if bad == "nan" else r"adj\.csv: graph has 4 nodes but the series"
    with pytest.raises(DataError, match=match):
        D.load_raw("T-CSV", tmp_path / "root")


def _pems_spec(specdir, tmp_path, data=None, csv="from,to,cost\n0,1,1.0\n1,2,2.0\n", key="data", ncsv=None):
    folder = tmp_path / "root" / "T-PEMS"
    folder.mkdir(parents=True, exist_ok=True)
    if data is not None:
        np.savez(folder / "x.npz", **{key: data})
    (folder / "x.csv").write_text(csv)
    specdir("T-PEMS", "pems_npz", {"series": "x.npz", "graph": "x.csv"}, null_value=0,
            time={"start": "2018-01-01 00:00", "step_minutes": 5})
    return folder


def test_npz_wrong_rank(specdir, tmp_path):
    _pems_spec(specdir, tmp_path, data=np.zeros((40, 3)))
    with pytest.raises(DataError, match=r"x\.npz: array 'data' \(time, nodes, channels\) must have 3 dimensions, got shape \(40, 3\)"):
        D.load_raw("T-PEMS", tmp_path / "root")


def test_npz_missing_key(specdir, tmp_path):
    _pems_spec(specdir, tmp_path, data=np.zeros((40, 3, 1)), key="flow")
    with pytest.raises(DataError, match=r"x\.npz: no array 'data' \(arrays: \['flow'\]\)"):
        D.load_raw("T-PEMS", tmp_path / "root")


@pytest.mark.parametrize("mode", ["truncate", "garbage"])
def test_corrupt_npz(specdir, tmp_path, mode):
    folder = _pems_spec(specdir, tmp_path, data=np.random.default_rng(0).random((400, 3, 3)))
    _corrupt(folder / "x.npz", mode)
    with pytest.raises(DataError, match=r"x\.npz: cannot read npz archive"):
        D.load_raw("T-PEMS", tmp_path / "root")


def test_edge_out_of_range(specdir, tmp_path):
    _pems_spec(specdir, tmp_path, data=np.zeros((40, 3, 1)), csv="from,to,cost\n0,1,1.0\n2,3,1.0\n")
    with pytest.raises(DataError, match=r"x\.csv: edge 2 -> 3 \(row 3\) is out of range for 3 nodes"):
        D.load_raw("T-PEMS", tmp_path / "root")


def test_series_shorter_than_one_window_from_loader(specdir, tmp_path):
    _pems_spec(specdir, tmp_path, data=np.ones((20, 3, 1)))
    assert D.load_raw("T-PEMS", tmp_path / "root").num_steps == 20
    with pytest.raises(DataError, match=r"T-PEMS: series has 20 steps, shorter than one window"):
        D.load_windowed("T-PEMS", tmp_path / "root")


def test_mat_wrong_rank_and_graph_truncation(specdir, tmp_path):
    import scipy.io

    folder = tmp_path / "root" / "T-MAT"
    folder.mkdir(parents=True)
    tensor = np.arange(3 * 2 * 4, dtype=np.uint16).reshape(3, 2, 4)  # (stations, days, slots)
    scipy.io.savemat(folder / "t.mat", {"inflow": tensor})
    g = pd.DataFrame(np.ones((4, 4)) - np.eye(4))
    g.to_csv(folder / "g.csv")  # header row + index column, one station more than the tensor
    specdir("T-MAT", "mat_tensor", {"series": "t.mat", "graph": "g.csv"}, null_value=0,
            time={"start": "2019-01-01 00:00", "step_minutes": 360}, graph={"truncate": True})
    raw = D.load_raw("T-MAT", tmp_path / "root")
    assert raw.values.shape == (8, 3) and raw.adj.shape == (3, 3) and raw.extra["graph_nodes_dropped"] == 1
    assert raw.values[4 * 1 + 2, 1] == tensor[1, 1, 2]  # day-major: step = day * slots + slot
    specdir("T-MAT", "mat_tensor", {"series": "t.mat", "graph": "g.csv"}, null_value=0,
            time={"start": "2019-01-01 00:00", "step_minutes": 360})
    with pytest.raises(DataError, match=r"g\.csv: graph has 4 nodes but the series in .*t\.mat has 3"):
        D.load_raw("T-MAT", tmp_path / "root")
    scipy.io.savemat(folder / "t.mat", {"inflow": tensor[:, 0, :]})
    with pytest.raises(DataError, match=r"t\.mat: variable 'inflow' \(stations, days, slots\) must have 3 dimensions"):
        D.load_raw("T-MAT", tmp_path / "root")


def _write_nc(path: Path, T=30, H=3, W=4, sea=((0, 0),), gaps=((5, 1, 1),)):
    import xarray as xr

    rng = np.random.default_rng(0)
    a = rng.normal(280, 3, size=(T, H, W)).astype(np.float32)
    for r, c in sea:
        a[:, r, c] = np.nan
    for t, r, c in gaps:
        a[t, r, c] = np.nan
    ds = xr.Dataset({"Tair": (("time", "lat", "lon"), a)},
                    coords={"time": pd.date_range("2017-01-01", periods=T, freq="h"),
                            "lat": np.arange(H) + 50.25, "lon": np.arange(W) - 10.75})
    ds.to_netcdf(path)
    return a


def test_netcdf_grid_drops_sea_cells_and_keeps_gaps(specdir, tmp_path):
    folder = tmp_path / "root" / "T-NC"
    folder.mkdir(parents=True)
    a = _write_nc(folder / "t.nc")
    specdir("T-NC", "netcdf_grid", {"series": "t.nc"}, time={"step_minutes": 60}, graph={"neighbourhood": 8})
    raw = D.load_raw("T-NC", tmp_path / "root")
    assert raw.values.shape == (30, 11) and raw.extra["cells_dropped"] == 1
    np.testing.assert_array_equal(raw.values[:, 0], a[:, 0, 1])  # row-major, cell (0, 0) dropped
    assert np.isnan(raw.values).sum() == 1  # the one gap stays NaN (masked, not filled)
    w = D.load_windowed("T-NC", tmp_path / "root", in_steps=3, out_steps=3)
    assert not w.mask.numpy().all() and w.info()["missing_fraction"] == pytest.approx(1 / (30 * 11))
    assert raw.adj.shape == (11, 11) and graphs.count_edges(raw.adj) == 2 * (17 + 12 - 3)


def test_netcdf_wrong_step_and_corruption(specdir, tmp_path):
    folder = tmp_path / "root" / "T-NC"
    folder.mkdir(parents=True)
    _write_nc(folder / "t.nc")
    specdir("T-NC", "netcdf_grid", {"series": "t.nc"}, time={"step_minutes": 30})
    with pytest.raises(DataError, match="step is 60 min in the file but 30 min"):
        D.load_raw("T-NC", tmp_path / "root")
    _corrupt(folder / "t.nc", "truncate")
    specdir("T-NC", "netcdf_grid", {"series": "t.nc"}, time={"step_minutes": 60})
    with pytest.raises(DataError, match=r"t\.nc: cannot read netcdf4 dataset"):
        D.load_raw("T-NC", tmp_path / "root")


def test_checksum_mismatch(specdir, tmp_path):
    write_tgcn(tmp_path / "root" / "T-CSV")
    good = D.file_sha256(tmp_path / "root" / "T-CSV" / "adj.csv")
    specdir("T-CSV", "tgcn_csv", {"series": "speed.csv", "graph": {"path": "adj.csv", "sha256": good}}, time=TIME5)
    D.load_raw("T-CSV", tmp_path / "root")
    with open(tmp_path / "root" / "T-CSV" / "adj.csv", "a") as f:
        f.write("\n")
    with pytest.raises(DataError, match=r"T-CSV: checksum mismatch for .*adj\.csv"):
        D.load_raw("T-CSV", tmp_path / "root")


def test_irregular_timestamps(specdir, tmp_path):
    folder = tmp_path / "root" / "T-H5"
    write_h5_pickle(folder)
    df = pd.read_hdf(folder / "series.h5")
    df.index = df.index.delete(10).append(pd.DatetimeIndex([df.index[-1] + pd.Timedelta("5min")]))
    df.to_hdf(folder / "series.h5", key="speed")
    specdir("T-H5", "dcrnn_h5", H5_FILES, null_value=0)
    with pytest.raises(DataError, match="irregular time step at row 10"):
        D.load_raw("T-H5", tmp_path / "root")


# ----------------------------------------------------------------------------- CLI
def _cli(argv):
    from stbench.datasets.cli import add_data_commands

    p = argparse.ArgumentParser()
    add_data_commands(p.add_subparsers())
    args = p.parse_args(argv)
    return args.func(args)


def test_cli_list_and_info_without_data_root(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("STBENCH_DATA", raising=False)
    monkeypatch.chdir(tmp_path)  # ./data does not exist
    assert _cli(["data", "list", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in out["datasets"]}
    assert set(CANONICAL) <= set(rows) and rows["SYNTHETIC"]["present"] and not rows["METR-LA"]["present"]
    assert rows["PEMS04"]["format"] == "pems_npz"
    assert _cli(["data", "info", "SYNTHETIC", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    for key in ("nodes", "steps", "windows", "missing_fraction", "graph_edges", "step_minutes", "start", "split", "scaler"):
        assert key in info
    assert info["windows"]["train"] + info["windows"]["val"] + info["windows"]["test"] == info["steps"] - 23
    assert _cli(["data", "info", "METR-LA"]) == 2
    assert "data download METR-LA" in capsys.readouterr().err
