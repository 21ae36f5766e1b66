"""Readers of the standard traffic files, read exactly as published.

* ``dcrnn_h5`` (METR-LA, PEMS-BAY; DCRNN, Li et al. 2018): ``metr-la.h5`` / ``pems-bay.h5``,
  a pandas HDF store holding one DataFrame (time x sensor id) with a DatetimeIndex, and
  ``adj_mx.pkl`` / ``adj_mx_bay.pkl``, a pickle (latin1) of ``[sensor_ids, id->index, adj]``.
  The h5 columns must be the pickle's sensor ids: same order, or the same set (then the
  columns are reordered to the pickle's order); anything else is an error.
* ``pems_npz`` (PEMS03/04/07/08; ASTGCN / STSGCN): ``PEMS0x.npz`` with key ``data`` of shape
  (T, N, C) (channel 0 = flow is the target) and ``PEMS0x.csv``, an edge list
  ``from,to,cost`` with a header. PEMS03 lists raw sensor ids, mapped to indices by the line
  order of ``PEMS03.txt`` (the optional ``ids`` file). The node count comes from the npz.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from .base import DataError, RawSeries
from .formats import (FORMATS, DataFormat, Option, ReadContext, check_adjacency, check_nodes,
                      check_rank, reading, to_ns)
from .graphs import EDGE_WEIGHTS, edge_list_adjacency


def read_dcrnn_pickle(path: Path) -> tuple[list[str], np.ndarray]:
    """DCRNN ``adj_mx.pkl`` -> (sensor ids as strings, (N, N) adjacency)."""
    with reading(path, "DCRNN adjacency pickle"), open(path, "rb") as f:
        obj = pickle.load(f, encoding="latin1")
    if not isinstance(obj, (list, tuple)) or len(obj) != 3:
        raise DataError(f"{path}: expected a pickled [sensor_ids, id_to_index, adj_mx], got "
                        f"{type(obj).__name__}" + (f" of length {len(obj)}" if hasattr(obj, "__len__") else ""))
    ids, id_to_ind, adj = obj
    ids = [str(s) for s in ids]
    adj = check_adjacency(np.asarray(adj), path)
    if len(ids) != adj.shape[0]:
        raise DataError(f"{path}: {len(ids)} sensor ids for a {adj.shape[0]}x{adj.shape[0]} adjacency")
    if isinstance(id_to_ind, dict):
        bad = [s for i, s in enumerate(ids) if id_to_ind.get(s, id_to_ind.get(_maybe_int(s))) != i]
        if bad:
            raise DataError(f"{path}: id->index map disagrees with the id list (e.g. sensor {bad[0]})")
    return ids, adj


def _maybe_int(s: str):
    try:
        return int(s)
    except ValueError:
        return s


@FORMATS.register("dcrnn_h5")
class DcrnnH5(DataFormat):
    """pandas HDF series (DatetimeIndex x sensor ids) + DCRNN adjacency pickle."""

    files = {"series": True, "graph": True}
    options = {"key": Option(str, None, doc="HDF key of the DataFrame (None: the only one)")}

    def read(self, ctx: ReadContext) -> RawSeries:
        h5, pkl = ctx.path("series"), ctx.path("graph")
        with reading(h5, "pandas HDF store"):
            df = pd.read_hdf(h5, key=ctx.options["key"]) if ctx.options["key"] else pd.read_hdf(h5)
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"{h5}: expected a DataFrame (time x sensor), got {type(df).__name__}")
        if not isinstance(df.index, pd.DatetimeIndex):
            raise DataError(f"{h5}: the DataFrame index must be a DatetimeIndex, got {type(df.index).__name__}")
        ids, adj = read_dcrnn_pickle(pkl)
        cols = [str(c) for c in df.columns]
        check_nodes(len(cols), len(ids), h5, pkl)
        reordered = False
        if cols != ids:
            if set(cols) != set(ids):
                missing = sorted(set(ids) - set(cols))[:5]
                extra = sorted(set(cols) - set(ids))[:5]
                raise DataError(f"{h5}: columns are not the sensor ids of {pkl} (ids missing from the h5: "
                                f"{missing}; columns not in the pickle: {extra})")
            df = df.iloc[:, [cols.index(s) for s in ids]]
            reordered = True
        with reading(h5, "numeric series"):
            values = df.to_numpy(dtype=np.float32)
        return ctx.raw(values, adj, to_ns(df.index.values), [h5, pkl], node_ids=ids,
                       columns_reordered=reordered)


def read_edge_list(path: Path, num_nodes: int, ids_path: Path | None = None) -> tuple[np.ndarray, ...]:
    """``from,to,cost`` CSV (header) -> 0-based (src, dst, cost); raw ids mapped via ``ids_path``."""
    with reading(path, "edge list CSV (from,to,cost)"):
        df = pd.read_csv(path)
    if df.shape[1] < 3:
        raise DataError(f"{path}: edge list needs 3 columns from,to,cost, got {list(df.columns)}")
    with reading(path, "edge list CSV (from,to,cost)"):
        src = df.iloc[:, 0].to_numpy(dtype=np.int64)
        dst = df.iloc[:, 1].to_numpy(dtype=np.int64)
        cost = df.iloc[:, 2].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(cost)):
        raise DataError(f"{path}: edge costs contain NaN or inf (row {int(np.argmax(~np.isfinite(cost))) + 2})")
    if ids_path is not None:
        with reading(ids_path, "sensor id list"):
            raw_ids = [int(line) for line in ids_path.read_text().split()]
        if len(raw_ids) != num_nodes:
            raise DataError(f"{ids_path}: {len(raw_ids)} sensor ids but the series has {num_nodes} nodes")
        index = {s: i for i, s in enumerate(raw_ids)}
        unknown = [s for s in np.concatenate([src, dst]) if s not in index]
        if unknown:
            raise DataError(f"{path}: sensor id {unknown[0]} is not listed in {ids_path}")
        src = np.array([index[s] for s in src], dtype=np.int64)
        dst = np.array([index[s] for s in dst], dtype=np.int64)
    bad = (src < 0) | (src >= num_nodes) | (dst < 0) | (dst >= num_nodes)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{path}: edge {src[i]} -> {dst[i]} (row {i + 2}) is out of range for "
                        f"{num_nodes} nodes (0..{num_nodes - 1})")
    return src, dst, cost


@FORMATS.register("pems_npz")
class PemsNpz(DataFormat):
    """(T, N, C) npz + edge-list CSV; the graph weighting is set under ``graph:``."""

    files = {"series": True, "graph": True, "ids": False}
    options = {"key": Option(str, "data", nullable=False, doc="array name in the npz"),
               "channel": Option(int, 0, nullable=False, doc="target channel (0 = flow)")}
    graph = {"weight": Option(str, "binary", choices=tuple(EDGE_WEIGHTS.names()), nullable=False),
             "symmetric": Option(bool, True, nullable=False),
             "self_loops": Option(bool, False, nullable=False),
             "sigma": Option(float, None, doc="Gaussian width (None: std of the costs)"),
             "threshold": Option(float, 0.1, nullable=False, doc="Gaussian weights below -> 0")}
    needs_time = True

    def read(self, ctx: ReadContext) -> RawSeries:
        npz, csv = ctx.path("series"), ctx.path("graph")
        ids = ctx.path("ids") if ctx.has("ids") else None
        key = ctx.options["key"]
        with reading(npz, "npz archive"), np.load(npz, allow_pickle=False) as z:
            if key not in z.files:
                raise DataError(f"{npz}: no array {key!r} (arrays: {z.files})")
            data = z[key]
        check_rank(data, 3, npz, f"array {key!r} (time, nodes, channels)")
        ch = ctx.options["channel"]
        if not 0 <= ch < data.shape[2]:
            raise DataError(f"{npz}: channel {ch} out of range, the array has {data.shape[2]} channels")
        values = np.asarray(data[..., ch], dtype=np.float32)
        n = values.shape[1]
        src, dst, cost = read_edge_list(csv, n, ids)
        g = ctx.graph
        adj = edge_list_adjacency(src, dst, cost, n, weight=g["weight"], symmetric=g["symmetric"],
                                  self_loops=g["self_loops"], sigma=g["sigma"], threshold=g["threshold"])
        files = [npz, csv] + ([ids] if ids else [])
        return ctx.raw(values, adj, ctx.time_axis(values.shape[0]), files)
