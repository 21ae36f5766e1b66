"""Real data from the shared data root through the standard loaders.

Files in the exact published layouts are built in tmp_path from the real slices and real
graph files (metr-la.h5 from LOS-LOOP's los_speed.csv, which is METR-LA's first week;
PEMS04/08.npz from the real slices; PEMS-BAY / PEMS03 / PEMS07 series from synthetic
values with their real graph files), and the complete real data sets are loaded as they are.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from stbench import datasets as D
from stbench.datasets.base import DataError
from stbench.datasets.graphs import count_edges
from stbench.datasets.protocol import split_counts

pytestmark = pytest.mark.realdata


def need(root: Path, *rel: str) -> list[Path]:
    paths = [root / r for r in rel]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"real data files missing: {missing}")
    return paths


def copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


@pytest.fixture
def metr_la_root(real_data_root, tmp_path):
    """tmp data root with METR-LA/metr-la.h5 (pandas HDF, DatetimeIndex from 2012-03-01, 5 min,
    sensor-id columns in adj_mx.pkl order, values = los_speed.csv) and the real adj_mx.pkl."""
    speed, pkl = need(real_data_root, "LOS-LOOP/los_speed.csv", "METR-LA/adj_mx.pkl")
    df = pd.read_csv(speed)
    df.index = pd.date_range("2012-03-01", periods=len(df), freq="5min")
    folder = tmp_path / "METR-LA"
    folder.mkdir()
    df.to_hdf(folder / "metr-la.h5", key="df")
    copy(pkl, folder / "adj_mx.pkl")
    return tmp_path, df


def test_metr_la_h5_from_real_week(metr_la_root, real_data_root):
    root, df = metr_la_root
    import pickle

    with open(real_data_root / "METR-LA/adj_mx.pkl", "rb") as f:
        ids, _, adj = pickle.load(f, encoding="latin1")
    raw = D.load_raw("metr-la", root)
    assert (raw.num_nodes, raw.num_steps) == (207, 2016) and raw.node_ids == list(ids)
    np.testing.assert_array_equal(raw.values, df.to_numpy(np.float32))
    np.testing.assert_array_equal(raw.adj, adj)
    assert str(raw.timestamps[0]).startswith("2012-03-01T00:00") and raw.step_minutes == 5
    w = D.load_windowed("METR-LA", root)
    n = 2016 - 23
    assert [w.num_windows(s) for s in ("train", "val", "test")] == list(split_counts(n, (0.7, 0.1, 0.2)))
    info = w.info()
    assert info["nodes"] == 207 and info["missing_fraction"] == 0.0 and info["graph_edges"] == count_edges(adj)
    fit = df.to_numpy(np.float64)[: w.num_windows("train") - 1 + 12]
    assert w.scaler.mean == pytest.approx(fit.mean(), rel=1e-6)
    assert w.series[0, 0, 2].item() == 3  # 2012-03-01 was a Thursday


def test_metr_la_h5_shuffled_columns_and_foreign_ids(metr_la_root):
    root, df = metr_la_root
    h5 = root / "METR-LA" / "metr-la.h5"
    shuffled = df[df.columns[::-1]]
    shuffled.to_hdf(h5, key="df", mode="w")
    raw = D.load_raw("METR-LA", root)
    np.testing.assert_array_equal(raw.values, df.to_numpy(np.float32))  # reordered to the pickle's ids
    renamed = df.rename(columns={df.columns[5]: "999999"})
    renamed.to_hdf(h5, key="df", mode="w")
    with pytest.raises(DataError, match=r"metr-la\.h5: columns are not the sensor ids of .*adj_mx\.pkl.*999999"):
        D.load_raw("METR-LA", root)


def test_metr_la_null_zeros_are_masked(metr_la_root):
    root, df = metr_la_root
    z = df.copy()
    z.iloc[100:200, 3] = 0.0  # METR-LA marks no reading with 0
    z.to_hdf(root / "METR-LA" / "metr-la.h5", key="df", mode="w")
    w = D.load_windowed("METR-LA", root)
    assert not w.mask[100:200, 3].any() and w.mask[:100].all()
    assert w.info()["missing_fraction"] == pytest.approx(100 / (2016 * 207))


@pytest.mark.parametrize("name,slice_file,nodes,steps", [
    ("PEMS04", "slices/PEMS04_first694steps.npz", 307, 694),
    ("PEMS08", "slices/PEMS08_first1282steps.npz", 170, 1282),
])
def test_pems_npz_from_real_slices(real_data_root, tmp_path, name, slice_file, nodes, steps):
    sl, csv = need(real_data_root, slice_file, f"{name}/{name}.csv")
    data = np.load(sl)["data"]
    (tmp_path / name).mkdir()
    np.savez(tmp_path / name / f"{name}.npz", data=data)
    copy(csv, tmp_path / name / f"{name}.csv")
    raw = D.load_raw(name, tmp_path)
    assert (raw.num_nodes, raw.num_steps) == (nodes, steps)
    np.testing.assert_array_equal(raw.values, data[..., 0].astype(np.float32))  # flow is the target
    if name == "PEMS08":
        assert raw.values[0, 0] == 133
    edges = pd.read_csv(csv)
    pairs = {tuple(sorted(p)) for p in edges.iloc[:, :2].to_numpy().tolist() if p[0] != p[1]}
    assert count_edges(raw.adj) == 2 * len(pairs)  # binary, symmetric (the YAML default)
    start = {"PEMS04": "2018-01-01", "PEMS08": "2016-07-01"}[name]
    assert str(raw.timestamps[0]).startswith(start) and raw.step_minutes == 5
    w = D.load_windowed(name, tmp_path)
    assert [w.num_windows(s) for s in ("train", "val", "test")] == list(split_counts(steps - 23, (0.6, 0.2, 0.2)))


@pytest.mark.parametrize("name,nodes", [("PEMS03", 358), ("PEMS07", 883)])
def test_pems03_07_with_real_edge_lists(real_data_root, tmp_path, name, nodes):
    files = [f"{name}/{name}.csv"] + ([f"{name}/{name}.txt"] if name == "PEMS03" else [])
    for src in need(real_data_root, *files):
        copy(src, tmp_path / name / src.name)
    data = np.random.default_rng(0).integers(0, 400, size=(60, nodes, 1)).astype(np.float64)
    np.savez(tmp_path / name / f"{name}.npz", data=data)
    raw = D.load_raw(name, tmp_path)
    assert raw.num_nodes == nodes and count_edges(raw.adj) > nodes
    if name == "PEMS03":  # raw sensor ids mapped by the line order of PEMS03.txt
        ids = [int(s) for s in (tmp_path / name / "PEMS03.txt").read_text().split()]
        first = pd.read_csv(tmp_path / name / "PEMS03.csv").iloc[0]
        assert raw.adj[ids.index(int(first.iloc[0])), ids.index(int(first.iloc[1]))] == 1


def test_pems_bay_h5_with_real_pickle(real_data_root, tmp_path):
    import pickle

    (pkl,) = need(real_data_root, "PEMS-BAY/adj_mx_bay.pkl")
    with open(pkl, "rb") as f:
        ids, _, adj = pickle.load(f, encoding="latin1")
    vals = np.random.default_rng(0).uniform(20, 70, size=(300, len(ids)))
    df = pd.DataFrame(vals, index=pd.date_range("2017-01-01", periods=300, freq="5min"),
                      columns=[int(s) for s in ids])  # integer column labels, as sensor ids
    (tmp_path / "PEMS-BAY").mkdir()
    df.to_hdf(tmp_path / "PEMS-BAY" / "pems-bay.h5", key="speed")
    copy(pkl, tmp_path / "PEMS-BAY" / "adj_mx_bay.pkl")
    raw = D.load_raw("PEMS-BAY", tmp_path)
    assert raw.num_nodes == 325 and raw.node_ids == list(ids)
    np.testing.assert_array_equal(raw.adj, adj)
    np.testing.assert_allclose(raw.values, vals.astype(np.float32))


@pytest.mark.parametrize("name,nodes,steps,missing,step", [
    ("LOS-LOOP", 207, 2016, (0.0, 0.0), 5),
    ("HANGZHOU-METRO", 80, 3600, (0.2, 0.3), 10),   # zeros = null value
    ("AQI36", 36, 8759, (0.13, 0.135), 60),          # 13.2 % NaN, truly missing
    ("ERA5-UK-T2M", 1617, 744, (0.0, 0.0), 60),
    ("WFDE5-UK-TAIR", 250, 744, (0.0, 0.0), 60),     # 250 land cells of 20 x 28; sea dropped
    ("BEIJING-AQ", 12, 35064, (0.020, 0.022), 60),   # 2.08 % empty PM2.5 cells, truly missing
])
def test_complete_real_data_sets(real_data_root, name, nodes, steps, missing, step):
    if not D.dataset_present(name, real_data_root):
        pytest.skip(f"{name} not under {real_data_root}")
    w = D.load_windowed(name, real_data_root)
    info = w.info()
    assert (info["nodes"], info["steps"], info["step_minutes"]) == (nodes, steps, step)
    assert missing[0] <= info["missing_fraction"] <= missing[1]
    assert sum(info["windows"].values()) == steps - 23 and info["graph_edges"] > 0
    assert np.isfinite(w.raw.adj).all() and np.isfinite(w.series.numpy()).all()


def test_hangzhou_is_day_major_and_graph_cut_to_80(real_data_root):
    import scipy.io

    (mat,) = need(real_data_root, "HANGZHOU-METRO/inflow_tensor.mat")
    t = scipy.io.loadmat(mat)["inflow_tensor"]
    raw = D.load_raw("HANGZHOU-METRO", real_data_root)
    for day, slot, st in [(0, 50, 3), (7, 0, 79), (24, 143, 10)]:
        assert raw.values[day * 144 + slot, st] == t[st, day, slot]
    assert raw.extra["graph_nodes_dropped"] == 1 and str(raw.timestamps[0]).startswith("2019-01-01")
    g = pd.read_csv(real_data_root / "HANGZHOU-METRO/graph.csv", index_col=0).to_numpy()
    np.testing.assert_array_equal(raw.adj, g[:80, :80])


def test_aqi36_keeps_nan_and_builds_distance_graph(real_data_root):
    (csv,) = need(real_data_root, "AQI36/pm25_ground.txt")
    ref = pd.read_csv(csv, index_col=0)
    raw = D.load_raw("AQI36", real_data_root)
    assert np.isnan(raw.values).sum() == ref.isna().sum().sum() > 0  # never filled
    assert str(raw.timestamps[0]).startswith("2014-05-01T01:00")
    assert (raw.adj == raw.adj.T).all() and np.trace(raw.adj) == 0 and raw.adj.max() <= 1


def test_weather_grids(real_data_root):
    raw = D.load_raw("ERA5-UK-T2M", real_data_root)
    assert raw.extra["grid_shape"] == (33, 49) and raw.extra["cells_dropped"] == 0
    assert count_edges(raw.adj) == 2 * (33 * 48 + 32 * 49)  # full 4-neighbourhood
    assert 250 < np.nanmean(raw.values) < 300  # kelvin
    wf = D.load_raw("WFDE5-UK-TAIR", real_data_root)
    assert wf.extra["grid_shape"] == (20, 28) and wf.extra["cells_dropped"] == 20 * 28 - 250
    assert not np.isnan(wf.values).any()


def _spec(tmp_path, monkeypatch, name, fmt, path, **extra):
    d = tmp_path / "specs"
    d.mkdir(exist_ok=True)
    spec = {"name": name, "format": fmt, "folder": "W", "split": [0.7, 0.1, 0.2], "citation": "t",
            "files": {"series": {"path": path}}, **extra}
    (d / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("STBENCH_DATASET_CONFIGS", str(d))


@pytest.mark.parametrize("fname,fmt", [("WEATHER/era5-2mt-2019-03-uk.grib", "grib_grid"),
                                        ("WEATHER/air_temperature.nc", "netcdf_grid")])
def test_truncated_weather_files(real_data_root, tmp_path, monkeypatch, fname, fmt):
    (src,) = need(real_data_root, fname)
    data = src.read_bytes()
    dst = tmp_path / "root" / "W" / src.name
    dst.parent.mkdir(parents=True)
    dst.write_bytes(data[: len(data) // 3 + 1000])  # cut inside a record / GRIB message
    _spec(tmp_path, monkeypatch, "CUT-GRID", fmt, src.name)
    with pytest.raises(DataError, match=rf"{src.name}: cannot read"):
        D.load_raw("CUT-GRID", tmp_path / "root")
    assert sorted(p.name for p in dst.parent.iterdir()) == [src.name]  # no index file written
    dst.write_bytes(data[: 3360 * 248])  # a cut between GRIB messages: caught by the YAML's size
    _spec(tmp_path, monkeypatch, "CUT-GRID", fmt, src.name)
    d = tmp_path / "specs" / "CUT-GRID.yaml"
    spec = yaml.safe_load(d.read_text())
    spec["files"]["series"]["size"] = len(data)
    d.write_text(yaml.safe_dump(spec))
    with pytest.raises(DataError, match=rf"size mismatch for .*{src.name}: {3360 * 248} bytes, expected {len(data)}"):
        D.load_raw("CUT-GRID", tmp_path / "root")


def test_checksum_mismatch_on_real_file(real_data_root, tmp_path):
    for src in need(real_data_root, "LOS-LOOP/los_speed.csv", "LOS-LOOP/los_adj.csv"):
        copy(src, tmp_path / "LOS-LOOP" / src.name)
    D.load_raw("LOS-LOOP", tmp_path)
    adj = tmp_path / "LOS-LOOP" / "los_adj.csv"
    adj.write_bytes(adj.read_bytes().replace(b"0.260935932", b"0.260935933", 1))
    with pytest.raises(DataError, match=r"LOS-LOOP: checksum mismatch for .*los_adj\.csv"):
        D.load_raw("LOS-LOOP", tmp_path)


def test_cli_info_on_real_data(real_data_root, capsys):
    from stbench.datasets.cli import add_data_commands

    p = argparse.ArgumentParser()
    add_data_commands(p.add_subparsers())
    args = p.parse_args(["data", "info", "AQI36", "--json", "--data-root", str(real_data_root)])
    assert args.func(args) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["nodes"] == 36 and info["steps"] == 8759 and info["windows"]["train"] == round(8736 * 0.7)
    args = p.parse_args(["data", "list", "--json", "--data-root", str(real_data_root)])
    assert args.func(args) == 0
    present = {r["name"] for r in json.loads(capsys.readouterr().out)["datasets"] if r["present"]}
    assert {"LOS-LOOP", "HANGZHOU-METRO", "AQI36", "ERA5-UK-T2M", "WFDE5-UK-TAIR", "SYNTHETIC"} <= present


def test_beijing_aq_long_files_and_training_span_correlation_graph(real_data_root):
    """12 station files (long format, composite time) -> (35,064, 12); graph fitted on the training span."""
    from stbench.datasets.graph_options import pearson_pairwise

    files = sorted((real_data_root / "BEIJING-AQ").glob("PRSA_Data_*_20130301-20170228.csv"))
    if len(files) != 12:
        pytest.skip(f"BEIJING-AQ: expected 12 station files under {real_data_root}, found {len(files)}")
    raw = D.load_raw("BEIJING-AQ", real_data_root)
    assert (raw.num_nodes, raw.num_steps, raw.step_minutes) == (12, 35064, 60)
    assert raw.node_ids == [f.name.split("_")[2] for f in files]  # file order = station order
    assert str(raw.timestamps[0]).startswith("2013-03-01T00:00") and str(raw.timestamps[-1]).startswith("2017-02-28T23:00")
    for f, node in zip(files, raw.node_ids):
        ref = pd.read_csv(f, usecols=["PM2.5", "station"])
        assert (ref["station"] == node).all()
        col = raw.values[:, raw.node_ids.index(node)]
        np.testing.assert_array_equal(col, ref["PM2.5"].to_numpy(np.float32))  # NaN where empty
    assert raw.values[:3, 0].tolist() == [4.0, 8.0, 7.0]  # Aotizhongxin 2013-03-01 00:00..02:00
    assert 0.020 < np.isnan(raw.values).mean() < 0.022
    adj, span = raw.adj, raw.extra["graph"]["train_steps"]
    assert span == round((35064 - 23) * 0.7) - 1 + 24 == 24552
    assert (adj == adj.T).all() and np.trace(adj) == 0 and ((adj > 0).sum(1) >= 3).all()
    r = pearson_pairwise(raw.values[:span].astype(np.float64), np.isfinite(raw.values[:span]))
    np.fill_diagonal(r, -np.inf)
    top3 = np.argsort(-r, axis=1, kind="stable")[:, :3]
    assert all(adj[i, j] > 0 for i in range(12) for j in top3[i])
    assert count_edges(adj) == 48
