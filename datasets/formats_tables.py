"""Readers of small tabular / MATLAB data sets, read exactly as published.

* ``tgcn_csv`` (LOS-LOOP; T-GCN, Zhao et al. 2020): ``los_speed.csv`` (header = sensor ids,
  one row per step, no timestamps) + ``los_adj.csv`` (N x N weights, no header).
* ``station_csv`` (AQI36; ST-MVL, Yi et al. 2016): ``pm25_ground.txt``, a CSV with a datetime
  column and one column per station (empty = NaN = missing, kept as NaN and masked, never
  filled) + ``pm25_latlng.txt`` (station, latitude, longitude). Graph: Gaussian kernel of
  the haversine distance, exp(-(d / sigma)^2), sigma = std of the distances unless given,
  weights below ``threshold`` set to 0.
* ``mat_tensor`` (HANGZHOU-METRO; transdim): ``inflow_tensor.mat`` holding a
  (stations, days, slots) array, flattened day-major into (days * slots, stations), +
  ``graph.csv`` (0/1 matrix with a header row and an index column).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .base import DataError, RawSeries
from .formats import (FORMATS, DataFormat, Option, ReadContext, check_adjacency, check_nodes,
                      check_rank, reading, to_ns)
from .graphs import gaussian_kernel, haversine_km


def _whole(ctx: ReadContext, role: str):
    """ctx.path(role), checked for a cut last row unless the YAML records its size / sha256."""
    import csv

    from .formats_generic import check_text_complete
    path = ctx.path(role)
    with reading(path, "first line"):
        with open(path, newline="", encoding="utf-8-sig") as f:
            first = next(csv.reader(f), [])
    check_text_complete(path, ",", len(first) or None, ctx.recorded(role), role)
    return path


def _numeric(df: pd.DataFrame, path, what: str) -> np.ndarray:
    with reading(path, what):
        return df.apply(pd.to_numeric, errors="raise").to_numpy(dtype=np.float32)


@FORMATS.register("tgcn_csv")
class TgcnCsv(DataFormat):
    """Series CSV (header = node ids, no time column) + headerless N x N adjacency CSV."""

    files = {"series": True, "graph": True}
    needs_time = True

    def read(self, ctx: ReadContext) -> RawSeries:
        sp, gp = _whole(ctx, "series"), _whole(ctx, "graph")
        with reading(sp, "series CSV (header = node ids)"):
            df = pd.read_csv(sp, dtype=str)
        values = _numeric(df, sp, "series CSV (header = node ids)")
        with reading(gp, "adjacency CSV (N x N, no header)"):
            adj = pd.read_csv(gp, header=None).to_numpy(dtype=np.float64)
        adj = check_adjacency(adj, gp)
        check_nodes(values.shape[1], adj.shape[0], sp, gp)
        return ctx.raw(values, adj, ctx.time_axis(values.shape[0]), [sp, gp],
                       node_ids=[str(c) for c in df.columns])


@FORMATS.register("station_csv")
class StationCsv(DataFormat):
    """Datetime + station-column CSV (NaN = missing) + station coordinates -> distance graph."""

    files = {"series": True, "coords": True}
    options = {"time_column": Option(str, "datetime", nullable=False)}
    graph = {"sigma_km": Option(float, None, doc="kernel width in km (None: std of the distances)"),
             "threshold": Option(float, 0.1, nullable=False),
             "self_loops": Option(bool, False, nullable=False)}

    def read(self, ctx: ReadContext) -> RawSeries:
        sp, cp = _whole(ctx, "series"), _whole(ctx, "coords")
        tcol = ctx.options["time_column"]
        with reading(sp, "station CSV (datetime + one column per station)"):
            df = pd.read_csv(sp, dtype=str)
        if tcol not in df.columns:
            raise DataError(f"{sp}: no time column {tcol!r} (columns start {list(df.columns[:3])})")
        with reading(sp, f"datetimes in column {tcol!r}"):
            ts = to_ns(pd.to_datetime(df.pop(tcol)).values)
        values = _numeric(df, sp, "station values")
        with reading(cp, "station coordinates (station, latitude, longitude)"):
            coords = pd.read_csv(cp, dtype=str)
            if coords.shape[1] < 3:
                raise DataError(f"{cp}: needs 3 columns station,latitude,longitude, got {list(coords.columns)}")
            ids = [s.strip() for s in coords.iloc[:, 0]]
            lat = coords.iloc[:, 1].astype(float).to_numpy()
            lon = coords.iloc[:, 2].astype(float).to_numpy()
        cols = [str(c).strip() for c in df.columns]
        check_nodes(len(cols), len(ids), sp, cp)
        if cols != ids:
            if set(cols) != set(ids):
                raise DataError(f"{cp}: station ids {sorted(set(ids) - set(cols))[:5]} have no column in {sp}")
            values = values[:, [cols.index(s) for s in ids]]
        if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
            raise DataError(f"{cp}: coordinates contain NaN or inf")
        g = ctx.graph
        adj = gaussian_kernel(haversine_km(lat, lon), sigma=g["sigma_km"], threshold=g["threshold"],
                              self_loops=g["self_loops"])
        return ctx.raw(values, adj, ts, [sp, cp], node_ids=ids)


@FORMATS.register("mat_tensor")
class MatTensor(DataFormat):
    """MATLAB (stations, days, slots) tensor -> (days * slots, stations), day-major.

    The graph CSV has a header row and an index column. With ``graph.truncate: true`` a
    graph with more stations than the tensor is cut to its first N rows and columns
    (HANGZHOU-METRO's graph.csv lists 81 stations; the tensors hold the first 80).
    """

    files = {"series": True, "graph": True}
    options = {"variable": Option(str, None, doc="MATLAB variable (None: the only one)")}
    graph = {"truncate": Option(bool, False, nullable=False)}
    needs_time = True

    def read(self, ctx: ReadContext) -> RawSeries:
        mp, gp = ctx.path("series"), _whole(ctx, "graph")
        import scipy.io

        try:
            with reading(mp, "MATLAB file"):
                mat = scipy.io.loadmat(mp)
        except (NotImplementedError, scipy.io.matlab.MatReadError) as exc:
            raise DataError(f"{mp}: cannot read MATLAB file: {exc}") from exc
        names = [k for k in mat if not k.startswith("__")]
        var = ctx.options["variable"] or (names[0] if len(names) == 1 else None)
        if var not in mat:
            raise DataError(f"{mp}: variable {ctx.options['variable']!r} not found; variables: {names} "
                            f"(set options.variable)")
        tensor = np.asarray(mat[var])
        check_rank(tensor, 3, mp, f"variable {var!r} (stations, days, slots)")
        n, days, slots = tensor.shape
        values = tensor.transpose(1, 2, 0).reshape(days * slots, n).astype(np.float32)
        with reading(gp, "graph CSV (header row + index column)"):
            adj = pd.read_csv(gp, index_col=0).to_numpy(dtype=np.float64)
        adj = check_adjacency(adj, gp)
        dropped = 0
        if adj.shape[0] > n and ctx.graph["truncate"]:
            dropped = adj.shape[0] - n
            adj = adj[:n, :n]
        check_nodes(n, adj.shape[0], mp, gp)
        return ctx.raw(values, adj, ctx.time_axis(values.shape[0]), [mp, gp],
                       graph_nodes_dropped=dropped)
