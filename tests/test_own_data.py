"""Your own data: the generic formats (wide_table, long_table), the graph: block, glob file
sets, missing-value rules, ``data check`` and ``--dataset-config``.

Every file is built in tmp_path from the real AQI36 or LOS-LOOP series (the shared data
root) reshaped into the layout under test, and the loaded values must equal the source.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from stbench import datasets as D
from stbench.datasets.base import DataError
from stbench.datasets.metrics import MaskedMetrics
from stbench.datasets.registry import SpecError, broken_datasets

REAL = pytest.mark.realdata  # reads the shared data root (a skip fails under CI=true)

PARQUET = importlib.util.find_spec("pyarrow") or importlib.util.find_spec("fastparquet")


# ----------------------------------------------------------------------------- helpers
def need(root: Path, *rel: str) -> list[Path]:
    paths = [root / r for r in rel]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"real data files missing: {missing}")
    return paths


@pytest.fixture
def aqi(real_data_root):
    """AQI36 as a DataFrame: DatetimeIndex (hourly from 2014-05-01 01:00), 36 station columns, NaN gaps."""
    csv, coords = need(real_data_root, "AQI36/pm25_ground.txt", "AQI36/pm25_latlng.txt")
    df = pd.read_csv(csv, dtype={"datetime": str})
    df.index = pd.to_datetime(df.pop("datetime"))
    df.columns = [str(c) for c in df.columns]
    return df, csv, coords


@pytest.fixture
def los(real_data_root):
    """The first 600 steps of 20 LOS-LOOP sensors (5 min from 2012-03-01) and their adjacency."""
    speed, adj = need(real_data_root, "LOS-LOOP/los_speed.csv", "LOS-LOOP/los_adj.csv")
    df = pd.read_csv(speed).iloc[:600, :20]
    df.index = pd.date_range("2012-03-01", periods=len(df), freq="5min")
    a = pd.read_csv(adj, header=None).to_numpy(np.float64)[:20, :20]
    return df, a


@pytest.fixture
def reg(tmp_path, monkeypatch):
    """Write data-set YAMLs into a registered directory; files go under tmp_path/root/<name>/."""
    specs = tmp_path / "specs"
    specs.mkdir()
    monkeypatch.setenv("STBENCH_DATASET_CONFIGS", str(specs))
    root = tmp_path / "root"

    class Reg:
        def __init__(self):
            self.root, self.specs = root, specs

        def folder(self, name: str) -> Path:
            d = root / name
            d.mkdir(parents=True, exist_ok=True)
            return d

        def write(self, name: str, fmt: str, files: dict, **extra) -> Path:
            spec = {"name": name, "format": fmt, "folder": name, "split": [0.7, 0.1, 0.2],
                    "citation": "test", "files": {r: (f if isinstance(f, dict) else {"path": f})
                                                  for r, f in files.items()}, **extra}
            path = specs / f"{name}.yaml"
            path.write_text(yaml.safe_dump(spec, sort_keys=False))
            return path

        def load(self, name: str):
            return D.load_raw(name, root)

    return Reg()


def wide_aqi(reg, aqi, name="AQ-WIDE", **extra):
    df, csv, coords = aqi
    d = reg.folder(name)
    shutil.copyfile(csv, d / "pm25.csv")
    shutil.copyfile(coords, d / "latlng.csv")
    reg.write(name, "wide_table", {"series": "pm25.csv", "coords": "latlng.csv"},
              time={"step_minutes": 60},
              options={"time_column": "datetime", **extra.pop("options", {})},
              graph=extra.pop("graph", {"kind": "coords", "sigma_km": None, "threshold": 0.1}), **extra)


def check_equal(raw, df):
    """The loaded series equals the source frame: ids, timestamps, values (NaN where NaN)."""
    assert raw.node_ids == list(df.columns)
    np.testing.assert_array_equal(raw.timestamps, df.index.values.astype("datetime64[ns]"))
    np.testing.assert_array_equal(raw.values, df.to_numpy(np.float32))


def long_frame(df: pd.DataFrame, drop_nan=True, seed=0) -> pd.DataFrame:
    """Wide -> long (time, node, value), rows shuffled; missing readings have no row."""
    long = df.rename_axis("time").reset_index().melt(id_vars="time", var_name="node", value_name="value")
    if drop_nan:
        long = long.dropna(subset=["value"])
    long["time"] = long["time"].dt.strftime("%Y-%m-%d %H:%M")
    return long.sample(frac=1.0, random_state=seed).reset_index(drop=True)


# ----------------------------------------------------------------------------- wide_table
@REAL
def test_wide_csv_equals_source_and_coords_graph_equals_station_csv(reg, aqi, real_data_root):
    wide_aqi(reg, aqi)
    raw = reg.load("AQ-WIDE")
    check_equal(raw, aqi[0])
    ref = D.load_raw("AQI36", real_data_root)  # the published reader: same kernel, same graph
    np.testing.assert_array_equal(raw.adj, ref.adj)
    assert raw.extra["graph"]["kind"] == "coords" and np.trace(raw.adj) == 0


@REAL
@pytest.mark.skipif(not PARQUET, reason="Parquet needs pyarrow or fastparquet; neither is installed here")
def test_wide_parquet_equals_source(reg, aqi):
    df = aqi[0]
    d = reg.folder("AQ-PQ")
    df.rename_axis("time").reset_index().to_parquet(d / "pm25.parquet")
    reg.write("AQ-PQ", "wide_table", {"series": "pm25.parquet"}, time={"step_minutes": 60},
              graph={"kind": "complete"})
    check_equal(reg.load("AQ-PQ"), df)


@REAL
def test_parquet_without_engine_is_one_clear_error(reg, aqi, monkeypatch):
    def no_engine(*a, **k):  # what pandas raises when neither pyarrow nor fastparquet is installed
        raise ImportError("Unable to find a usable engine; tried using: 'pyarrow', 'fastparquet'.")
    monkeypatch.setattr(pd, "read_parquet", no_engine)
    d = reg.folder("AQ-PQ")
    (d / "pm25.parquet").write_bytes(b"PAR1")
    reg.write("AQ-PQ", "wide_table", {"series": "pm25.parquet"}, time={"step_minutes": 60},
              graph={"kind": "complete"})
    with pytest.raises(DataError, match=r"pm25\.parquet: reading Parquet needs pyarrow or fastparquet"):
        reg.load("AQ-PQ")


@REAL
def test_wide_missing_rows_become_missing_steps(reg, los):
    df, _ = los
    d = reg.folder("LOS-GAPS")
    cut = df.drop(df.index[[5, 6, 300]])  # three time steps have no row at all
    cut.rename_axis("time").reset_index().to_csv(d / "speed.csv", index=False)
    reg.write("LOS-GAPS", "wide_table", {"series": "speed.csv"}, time={"step_minutes": 5},
              graph={"kind": "complete"})
    raw = reg.load("LOS-GAPS")
    assert raw.num_steps == 600 and raw.step_minutes == 5
    assert np.isnan(raw.values[[5, 6, 300]]).all() and raw.extra["rows_missing"] == 3
    keep = np.setdiff1d(np.arange(600), [5, 6, 300])
    np.testing.assert_array_equal(raw.values[keep], df.to_numpy(np.float32)[keep])
    # time.start / time.steps extend the axis with missing steps at both ends
    reg.write("LOS-GAPS", "wide_table", {"series": "speed.csv"},
              time={"step_minutes": 5, "start": "2012-02-29 23:50", "steps": 605}, graph={"kind": "complete"})
    raw = reg.load("LOS-GAPS")
    assert raw.num_steps == 605 and np.isnan(raw.values[:2]).all() and np.isnan(raw.values[-3:]).all()
    np.testing.assert_array_equal(raw.values[2:602][keep], df.to_numpy(np.float32)[keep])


@REAL
def test_wide_without_time_column_uses_time_start(reg, los, real_data_root):
    """LOS-LOOP's own los_speed.csv (no time column) as a wide table with its published matrix."""
    d = reg.folder("LOS-W")
    for f in ("los_speed.csv", "los_adj.csv"):
        shutil.copyfile(real_data_root / "LOS-LOOP" / f, d / f)
    reg.write("LOS-W", "wide_table", {"series": "los_speed.csv", "graph": "los_adj.csv"},
              time={"start": "2012-03-01 00:00", "step_minutes": 5}, options={"time_column": None},
              graph={"kind": "matrix"}, null_value=0)
    raw, ref = reg.load("LOS-W"), D.load_raw("LOS-LOOP", real_data_root)
    np.testing.assert_array_equal(raw.values, ref.values)
    np.testing.assert_array_equal(raw.adj, ref.adj)  # matrix: kept as published, diagonal included
    np.testing.assert_array_equal(raw.timestamps, ref.timestamps)
    assert raw.node_ids == ref.node_ids


# ----------------------------------------------------------------------------- long_table
@REAL
def test_long_single_file_equals_source(reg, aqi):
    df = aqi[0]
    d = reg.folder("AQ-LONG")
    long_frame(df).to_csv(d / "long.csv", index=False)
    reg.write("AQ-LONG", "long_table", {"series": "long.csv"}, time={"step_minutes": 60},
              options={"nodes": list(df.columns)}, graph={"kind": "complete"})
    raw = reg.load("AQ-LONG")
    check_equal(raw, df)
    assert raw.extra["graph"]["edges"] == 36 * 35


@REAL
def test_long_one_file_per_node_via_glob_and_parts(reg, aqi):
    df = aqi[0].iloc[:, :6]
    d = reg.folder("AQ-FILES")
    parts = {}
    for node in df.columns:  # one file per station, no node column: the file name is the node
        path = d / f"{node}.csv"
        long_frame(df[[node]])[["time", "value"]].to_csv(path, index=False)
        parts[path.name] = {"size": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    reg.write("AQ-FILES", "long_table", {"series": {"path": "0010*.csv", "parts": parts}},
              time={"step_minutes": 60}, options={"node_column": None}, graph={"kind": "complete"})
    raw = reg.load("AQ-FILES")
    check_equal(raw, df)
    assert D.dataset_present("AQ-FILES", reg.root)
    ident = D.dataset_identity("AQ-FILES", reg.root)["files"]
    assert sorted(ident) == [f"AQ-FILES/{n}" for n in sorted(parts)]
    # a stray file that matches the glob, a changed file, a missing file: each named
    (d / "001099.csv").write_text("time,value\n")
    with pytest.raises(DataError, match=r"001099\.csv: matches files\.series\.path '0010\*\.csv' but is not listed"):
        reg.load("AQ-FILES")
    (d / "001099.csv").unlink()
    first = d / sorted(parts)[0]
    first.write_text(first.read_text().replace("\n", "\r\n", 1))
    with pytest.raises(DataError, match=rf"size mismatch for .*{first.name}"):
        reg.load("AQ-FILES")
    first.unlink()
    with pytest.raises(DataError, match=rf"AQ-FILES: missing file .*{first.name}"):
        reg.load("AQ-FILES")


@REAL
def test_long_glob_without_parts_and_node_column(reg, aqi):
    df = aqi[0].iloc[:, :5]
    d = reg.folder("AQ-NODECOL")
    for i, node in enumerate(df.columns):
        f = long_frame(df[[node]], seed=i).rename(columns={"node": "station", "value": "PM2.5"})
        f.to_csv(d / f"part_{i}.csv", index=False)
    reg.write("AQ-NODECOL", "long_table", {"series": "part_*.csv"}, time={"step_minutes": 60},
              options={"node_column": "station", "value_column": "PM2.5"}, graph={"kind": "complete"})
    check_equal(reg.load("AQ-NODECOL"), df)
    reg.write("AQ-NODECOL", "long_table", {"series": "nothing_*.csv"}, time={"step_minutes": 60},
              options={"node_column": "station", "value_column": "PM2.5"}, graph={"kind": "complete"})
    with pytest.raises(DataError, match=r"AQ-NODECOL: no file matches .*nothing_\*\.csv"):
        reg.load("AQ-NODECOL")


@REAL
def test_long_composite_time_columns(reg, los):
    df, _ = los
    long = df.rename_axis("t").reset_index().melt(id_vars="t", var_name="sensor", value_name="speed")
    for part in ("year", "month", "day", "hour", "minute"):
        long[part] = getattr(long["t"].dt, part)
    d = reg.folder("LOS-PARTS")
    long.drop(columns="t").sample(frac=1.0, random_state=1).to_csv(d / "los_long.csv", index=False)
    reg.write("LOS-PARTS", "long_table", {"series": "los_long.csv"}, time={"step_minutes": 5},
              options={"time_parts": {p: p for p in ("year", "month", "day", "hour", "minute")},
                       "node_column": "sensor", "value_column": "speed", "nodes": list(df.columns)},
              graph={"kind": "complete"})
    check_equal(reg.load("LOS-PARTS"), df)


# ----------------------------------------------------------------------------- missing values
def _sentinel_los(reg, los, name, **extra):
    """LOS-LOOP with -1 written at a fixed 3 % of the entries (a sentinel for 'no reading')."""
    df, _ = los
    bad = np.random.default_rng(0).random(df.shape) < 0.03
    d = reg.folder(name)
    df.mask(bad, -1.0).rename_axis("time").reset_index().to_csv(d / "speed.csv", index=False)
    reg.write(name, "wide_table", {"series": "speed.csv"}, time={"step_minutes": 5},
              graph={"kind": "complete"}, **extra)
    return df.to_numpy(np.float32), bad


@REAL
def test_sentinel_as_null_value_is_masked_in_metrics(reg, los):
    values, bad = _sentinel_los(reg, los, "LOS-SENT", null_value=-1)
    raw = reg.load("LOS-SENT")
    assert (raw.values[bad] == -1).all() and raw.null_value == -1  # kept as it is
    w = D.load_windowed("LOS-SENT", reg.root)
    assert not w.mask.numpy()[bad].any() and w.mask.numpy()[~bad].all()
    # predictions exact except a huge error at every sentinel entry: the metrics do not see it
    x, y, m = w.gather("test", torch.arange(w.num_windows("test")))
    pred = torch.where(m, y, torch.full_like(y, 1e4))
    met = MaskedMetrics(12)
    met.update(pred, y, m)
    out = met.compute()
    assert out["mae"] == 0.0 and out["count"] == float(m.sum())
    # the scaler: the sentinel counts unless scaler_ignore_null; the model input is its z-value
    fit = raw.values[: w.train_steps]
    assert w.scaler.mean == pytest.approx(fit.mean(dtype=np.float64), rel=1e-6)
    wi = D.load_windowed("LOS-SENT", reg.root, scaler_ignore_null=True)
    assert wi.scaler.mean == pytest.approx(fit[fit != -1].mean(dtype=np.float64), rel=1e-6)
    t, n = np.argwhere(bad)[0]
    assert w.series[t, n, 0].item() == pytest.approx((-1 - w.scaler.mean) / w.scaler.std, rel=1e-5)


@REAL
def test_sentinel_as_missing_values_becomes_nan(reg, los):
    values, bad = _sentinel_los(reg, los, "LOS-NAN", options={"missing_values": [-1]})
    raw = reg.load("LOS-NAN")
    assert np.isnan(raw.values[bad]).all()
    np.testing.assert_array_equal(raw.values[~bad], values[~bad])
    w = D.load_windowed("LOS-NAN", reg.root)
    assert not w.mask.numpy()[bad].any() and (w.series[..., 0].numpy()[bad] == 0).all()
    fit = values[: w.train_steps][~bad[: w.train_steps]]
    assert w.scaler.mean == pytest.approx(fit.mean(dtype=np.float64), rel=1e-6)


# ----------------------------------------------------------------------------- graphs
def _los_wide(reg, los, name, graph, files=None, **extra):
    df, _ = los
    d = reg.folder(name)
    df.rename_axis("time").reset_index().to_csv(d / "speed.csv", index=False)
    reg.write(name, "wide_table", {"series": "speed.csv", **(files or {})}, time={"step_minutes": 5},
              graph=graph, **extra)
    return d


@REAL
def test_edge_list_and_matrix_graphs(reg, los):
    df, a = los
    ids = list(df.columns)
    d = _los_wide(reg, los, "LOS-E", {"kind": "edges", "weight": "cost"}, {"graph": "edges.csv"})
    i, j = np.nonzero(a)
    pd.DataFrame({"from": [ids[k] for k in i], "to": [ids[k] for k in j], "cost": a[i, j]}).to_csv(
        d / "edges.csv", index=False)
    raw = reg.load("LOS-E")
    want = np.maximum(a, a.T)
    np.fill_diagonal(want, 0)
    np.testing.assert_allclose(raw.adj, want.astype(np.float32))
    # a dense matrix whose header names the nodes in another order: reordered to the series
    perm = np.random.default_rng(0).permutation(20)
    pd.DataFrame(a[np.ix_(perm, perm)], columns=[ids[k] for k in perm]).to_csv(d / "m.csv", index=False)
    reg.write("LOS-E", "wide_table", {"series": "speed.csv", "graph": "m.csv"}, time={"step_minutes": 5},
              graph={"kind": "matrix", "matrix_header": True})
    np.testing.assert_array_equal(reg.load("LOS-E").adj, a.astype(np.float32))


@REAL
def test_complete_and_none_graphs(reg, los):
    from stbench.models import build_model

    _los_wide(reg, los, "LOS-C", {"kind": "complete"})
    adj = reg.load("LOS-C").adj
    assert (adj == 1 - np.eye(20)).all()
    _los_wide(reg, los, "LOS-N", {"kind": "none"})
    w = D.load_windowed("LOS-N", reg.root)
    assert w.meta.adj is None and w.info()["graph_edges"] == 0 and w.train_context()["adj"] is None
    with pytest.raises(ValueError, match=r"gwnet: needs a graph .*graph: \{kind: none\}.*supports: null"):
        build_model("gwnet", w.meta)
    with pytest.raises(ValueError, match=r"stgcn: needs a graph .*graph: \{kind: none\}"):
        build_model("stgcn", w.meta)
    x = w.gather("train", [0, 1])[0]
    for name, params in (("stid", {}), ("agcrn", {}), ("staeformer", {}), ("gwnet", {"supports": None})):
        assert build_model(name, w.meta, **params)(x).shape == (2, 12, 20, 1)


@REAL
def test_correlation_graph_uses_training_span_only(reg, los):
    df, _ = los
    _los_wide(reg, los, "LOS-R", {"kind": "correlation", "top_k": 3})
    raw = reg.load("LOS-R")
    span = raw.extra["graph"]["train_steps"]
    n_train = round((600 - 23) * 0.7)
    assert span == n_train - 1 + 24
    assert (raw.adj == raw.adj.T).all() and np.trace(raw.adj) == 0 and (raw.adj >= 0).all()
    # each node keeps its 3 most correlated others (pandas' Pearson on the training span)
    r = df.iloc[:span].corr().to_numpy().copy()
    np.fill_diagonal(r, -np.inf)
    top = np.argsort(-r, axis=1, kind="stable")[:, :3]
    for i in range(20):
        assert all(raw.adj[i, j] == pytest.approx(r[i, j], rel=1e-5) for j in top[i])
    # the steps after the training span never change it; a change inside it does
    d = reg.folder("LOS-R")
    later = df.copy()
    later.iloc[span:] = np.random.default_rng(1).random((600 - span, 20)) * 70
    later.rename_axis("time").reset_index().to_csv(d / "speed.csv", index=False)
    np.testing.assert_array_equal(reg.load("LOS-R").adj, raw.adj)
    earlier = df.copy()
    earlier.iloc[:span] = np.random.default_rng(1).random((span, 20)) * 70
    earlier.rename_axis("time").reset_index().to_csv(d / "speed.csv", index=False)
    assert not np.array_equal(reg.load("LOS-R").adj, raw.adj)


@REAL
def test_correlation_is_nan_aware_and_refit_per_protocol(reg, aqi):
    df = aqi[0].iloc[:, :10]
    d = reg.folder("AQ-R")
    df.rename_axis("time").reset_index().to_csv(d / "pm.csv", index=False)
    reg.write("AQ-R", "wide_table", {"series": "pm.csv"}, time={"step_minutes": 60},
              graph={"kind": "correlation", "min_corr": 0.0, "symmetric": False})
    raw = reg.load("AQ-R")
    span = raw.extra["graph"]["train_steps"]
    ref = df.iloc[:span].corr().to_numpy().copy()  # pandas: pairwise complete observations
    np.fill_diagonal(ref, 0)
    np.testing.assert_allclose(raw.adj, np.where(ref >= 0, ref, 0), rtol=1e-5, atol=1e-6)
    # another protocol (max_steps, split) refits on its own training span
    w = D.load_windowed("AQ-R", reg.root, max_steps=2000, split=(0.5, 0.25, 0.25))
    span2 = round((2000 - 23) * 0.5) - 1 + 24
    ref2 = df.iloc[:span2].corr().to_numpy().copy()
    np.fill_diagonal(ref2, 0)
    np.testing.assert_allclose(w.meta.adj, np.where(ref2 >= 0, ref2, 0), rtol=1e-5, atol=1e-6)
    assert w.raw.extra["graph"]["train_steps"] == span2


@REAL
def test_graph_override_on_a_published_format(reg, real_data_root):
    """tgcn_csv keeps its published matrix unless graph: {kind: ...} replaces it."""
    d = reg.folder("LOS-OVR")
    for f in ("los_speed.csv", "los_adj.csv"):
        shutil.copyfile(real_data_root / "LOS-LOOP" / f, d / f)
    reg.write("LOS-OVR", "tgcn_csv", {"series": "los_speed.csv", "graph": "los_adj.csv"},
              time={"start": "2012-03-01 00:00", "step_minutes": 5}, graph={"kind": "complete"})
    assert (reg.load("LOS-OVR").adj == 1 - np.eye(207)).all()
    reg.write("LOS-OVR", "tgcn_csv", {"series": "los_speed.csv", "graph": "los_adj.csv"},
              time={"start": "2012-03-01 00:00", "step_minutes": 5}, graph={"kind": "coords"})
    assert "valid choices: complete, correlation, none" in broken_datasets()["LOS-OVR"]
    # a YAML without graph.kind resolves exactly as before (the data identity is unchanged)
    assert D.dataset_spec("LOS-LOOP")["graph"] == {}


# ----------------------------------------------------------------------------- bad inputs
@REAL
def test_missing_column(reg, aqi):
    df = aqi[0].iloc[:, :3]
    d = reg.folder("BAD-COL")
    long_frame(df).to_csv(d / "long.csv", index=False)
    reg.write("BAD-COL", "long_table", {"series": "long.csv"}, time={"step_minutes": 60},
              options={"value_column": "PM2.5"}, graph={"kind": "complete"})
    with pytest.raises(DataError, match=r"long\.csv: no column 'PM2\.5' \(options\.value_column\); "
                                        r"the file has \['time', 'node', 'value'\]"):
        reg.load("BAD-COL")
    reg.write("BAD-COL", "long_table", {"series": "long.csv"}, time={"step_minutes": 60},
              options={"nodes": [df.columns[0], "999999"]}, graph={"kind": "complete"})
    with pytest.raises(DataError, match=r"BAD-COL \(.*long\.csv\): node '999999' \(options\.nodes\) has no row"):
        reg.load("BAD-COL")
    wide_aqi(reg, (df, *aqi[1:]), "BAD-WIDE", options={"time_column": "when"})
    with pytest.raises(DataError, match=r"pm25\.csv: no column 'when' \(options\.time_column\)"):
        reg.load("BAD-WIDE")


@REAL
def test_duplicate_time_node_rows(reg, aqi):
    df = aqi[0].iloc[:200, :4]
    d = reg.folder("BAD-DUP")
    long = long_frame(df)
    pd.concat([long, long.iloc[[7]]]).to_csv(d / "long.csv", index=False)
    reg.write("BAD-DUP", "long_table", {"series": "long.csv"}, time={"step_minutes": 60},
              graph={"kind": "complete"})
    row = long.iloc[7]
    with pytest.raises(DataError, match=rf"duplicate reading of node '{row['node']}' at "
                                        rf"{row['time'][:10]}T{row['time'][11:]}.*long\.csv line 9 and .*long\.csv "
                                        rf"line {len(long) + 2}"):
        reg.load("BAD-DUP")
    w = df.rename_axis("time").reset_index()
    pd.concat([w, w.iloc[[3]]]).to_csv(d / "wide.csv", index=False)
    reg.write("BAD-DUP", "wide_table", {"series": "wide.csv"}, time={"step_minutes": 60},
              graph={"kind": "complete"})
    with pytest.raises(DataError, match=r"wide\.csv: duplicate time 2014-05-01T04:00.* \(lines 5 and 202\)"):
        reg.load("BAD-DUP")


@REAL
def test_unknown_node_in_edge_list(reg, los):
    df, _ = los
    d = _los_wide(reg, los, "BAD-EDGE", {"kind": "edges"}, {"graph": "edges.csv"})
    pd.DataFrame({"from": [df.columns[0], df.columns[1]], "to": [df.columns[1], "999999"]}).to_csv(
        d / "edges.csv", index=False)
    with pytest.raises(DataError, match=r"edges\.csv: line 3: unknown node '999999' in the edge list"):
        reg.load("BAD-EDGE")


@REAL
def test_correlation_on_constant_node(reg, los):
    df, _ = los
    d = _los_wide(reg, los, "BAD-CONST", {"kind": "correlation", "top_k": 2})
    flat = df.copy()
    flat[df.columns[4]] = 55.0
    flat.rename_axis("time").reset_index().to_csv(d / "speed.csv", index=False)
    with pytest.raises(DataError, match=rf"BAD-CONST: graph\.kind correlation: node '{df.columns[4]}' is "
                                        r"constant \(55 at all \d+ valid steps\) in the training span"):
        reg.load("BAD-CONST")


@REAL
def test_more_bad_inputs(reg, los):
    df, _ = los
    d = _los_wide(reg, los, "BAD-X", {"kind": "complete"})
    w = df.rename_axis("time").reset_index()
    w.loc[10, "time"] = pd.Timestamp("2012-03-01 00:52")
    w.to_csv(d / "speed.csv", index=False)
    with pytest.raises(DataError, match=r"speed\.csv: line 12: time 2012-03-01T00:52.* is not on the 5-minute grid"):
        reg.load("BAD-X")
    w = df.rename_axis("time").reset_index().astype({df.columns[2]: object})
    w.loc[3, df.columns[2]] = "n/a?"
    w.to_csv(d / "speed.csv", index=False)
    with pytest.raises(DataError, match=rf"speed\.csv: line 5: column '{df.columns[2]}': 'n/a\?' is not a number"):
        reg.load("BAD-X")
    w = df.rename_axis("time").reset_index().astype({"time": object})
    w.loc[2, "time"] = "yesterday"
    w.to_csv(d / "speed.csv", index=False)
    with pytest.raises(DataError, match=r"speed\.csv: line 4: cannot parse the time 'yesterday'"):
        reg.load("BAD-X")
    _los_wide(reg, los, "BAD-K", {"kind": "correlation", "top_k": 20})
    with pytest.raises(DataError, match=r"graph\.top_k = 20, expected 1\.\.19"):
        reg.load("BAD-K")


@pytest.mark.parametrize("change,message", [
    ({"graph": {}}, r"graph\.kind is required for format wide_table; valid choices: complete, coords, "
                    r"correlation, edges, matrix, none"),
    ({"graph": {"kind": "coords"}}, r"graph\.kind coords reads a coords file; add files\.coords"),
    ({"graph": {"kind": "complete", "top_k": 3}}, r"graph\.top_k applies to graph\.kind correlation, not 'complete'"),
    ({"graph": {"kind": "correlation"}}, r"graph\.kind correlation needs graph\.top_k"),
    ({"graph": {"kind": "complete"}, "time": {}}, r"time\.step_minutes is required for format wide_table"),
    ({"graph": {"kind": "complete"}, "files": {"series": {"path": "*.csv"}}},
     r"files\.series\.path '\*\.csv' is a glob, but format wide_table reads one series file"),
    ({"graph": {"kind": "complete"}, "options": {"time_parts": {"year": "y", "hour": "h"}}},
     r"options\.time_parts needs month, day"),
    ({"graph": {"kind": "complete"}, "options": {"missing_values": ["-1"]}},
     r"options\.missing_values: expected a non-empty list of numbers"),
])
def test_bad_yaml_is_one_line_naming_the_key(reg, change, message):
    spec = {"files": {"series": "x.csv"}, "time": {"step_minutes": 5}, **change}
    reg.write("BAD-YAML", "wide_table", **spec)
    reason = broken_datasets()["BAD-YAML"]
    assert "\n" not in reason and "BAD-YAML.yaml" in reason
    assert re.search(message, reason), reason
    with pytest.raises(SpecError, match=message):
        D.dataset_spec("BAD-YAML")


def test_glob_parts_errors(reg):
    reg.write("BAD-GLOB", "long_table", {"series": {"path": "a_*.csv", "sha256": "0" * 64}},
              time={"step_minutes": 5}, graph={"kind": "complete"})
    assert "files.series.sha256: a glob path ('a_*.csv') names several files" in broken_datasets()["BAD-GLOB"]
    reg.write("BAD-GLOB", "long_table", {"series": {"path": "a_*.csv", "parts": {"b_1.csv": {"size": 3}}}},
              time={"step_minutes": 5}, graph={"kind": "complete"})
    assert "files.series.parts: 'b_1.csv' does not match the glob 'a_*.csv'" in broken_datasets()["BAD-GLOB"]


# ----------------------------------------------------------------------------- data check, --dataset-config
def _cli(argv):
    from stbench.datasets.cli import add_data_commands

    p = argparse.ArgumentParser()
    add_data_commands(p.add_subparsers())
    args = p.parse_args(argv)
    return args.func(args)


@REAL
def test_data_check_good_and_bad_yaml(tmp_path, reg, los, capsys, monkeypatch):
    monkeypatch.delenv("STBENCH_DATASET_CONFIGS")  # data check needs no registration
    _los_wide(reg, los, "LOS-CHECK", {"kind": "correlation", "top_k": 3})
    good = tmp_path / "mine" / "LOS-CHECK.yaml"
    good.parent.mkdir()
    shutil.move(reg.specs / "LOS-CHECK.yaml", good)
    assert _cli(["data", "check", str(good), "--data-root", str(reg.root)]) == 0
    out = capsys.readouterr().out
    for line in ("ok  schema", "ok  files    1 under", "ok  loads    20 nodes x 600 steps",
                 "ok  graph    correlation:", "windows            {'train': 404, 'val': 58, 'test': 115}",
                 f"--dataset-config {good.parent}"):
        assert line in out, line
    assert _cli(["data", "check", str(good), "--json", "--data-root", str(reg.root)]) == 0
    info = json.loads(capsys.readouterr().out)["info"]
    assert info["nodes"] == 20 and info["graph_edges"] > 0
    # with --dataset-config the other data subcommands see it
    assert _cli(["data", "info", "los-check", "--json", "--data-root", str(reg.root),
                 "--dataset-config", str(good.parent)]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 600
    bad = tmp_path / "mine" / "BAD.yaml"
    bad.write_text(good.read_text().replace("top_k: 3", "top_k: 3\n  threshold: 0.5"))
    assert _cli(["data", "check", str(bad), "--data-root", str(reg.root)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"error: {bad}: graph.threshold applies to graph.kind")
    assert _cli(["data", "check", str(good), "--data-root", str(tmp_path / "elsewhere")]) == 2
    assert "LOS-CHECK: missing file" in capsys.readouterr().err
    assert _cli(["data", "list", "--dataset-config", str(tmp_path / "nope")]) == 2
    assert "--dataset-config" in capsys.readouterr().err


# ----------------------------------------------------------------------------- torch-geometric parity
def test_graph_helpers_match_torch_geometric_where_defined():
    """models/graph.py keeps its numpy supports (faster, see its docstring); they equal
    torch-geometric's on loop-free graphs and differ with self-loops, which PyG drops."""
    pyg = pytest.importorskip("torch_geometric.utils")
    from stbench.models.graph import sym_norm_laplacian, transition_matrix

    rng = np.random.default_rng(0)
    a = (rng.random((30, 30)) < 0.2) * rng.random((30, 30))
    np.fill_diagonal(a, 0)
    ei, ew = pyg.dense_to_sparse(torch.from_numpy(np.maximum(a, a.T)))
    li, lw = pyg.get_laplacian(ei, ew, normalization="sym", num_nodes=30)
    lap = pyg.to_dense_adj(li, edge_attr=lw, max_num_nodes=30)[0].numpy()
    np.testing.assert_allclose(sym_norm_laplacian(a), lap, rtol=1e-12, atol=1e-12)
    ei, ew = pyg.dense_to_sparse(torch.from_numpy(a))
    li, lw = pyg.get_laplacian(ei, ew, normalization="rw", num_nodes=30)
    p = np.eye(30) - pyg.to_dense_adj(li, edge_attr=lw, max_num_nodes=30)[0].numpy()
    np.testing.assert_allclose(transition_matrix(a), p, rtol=1e-6, atol=1e-7)
    looped = a + np.eye(30)
    ei, ew = pyg.dense_to_sparse(torch.from_numpy(np.maximum(looped, looped.T)))
    li, lw = pyg.get_laplacian(ei, ew, normalization="sym", num_nodes=30)
    assert not np.allclose(sym_norm_laplacian(looped), pyg.to_dense_adj(li, edge_attr=lw, max_num_nodes=30)[0].numpy())
