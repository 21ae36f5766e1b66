"""UrbanEV (Li et al., Scientific Data 2025; IntelligentSystemsLab/UrbanEV, CC0): Shenzhen EV charging.

Zone-level, hourly, 275 traffic zones (TAZ), 2022-09-01 00:00 .. 2023-02-28 23:00
(4,344 steps), as in the repository's ``data/`` folder and read the way its code reads them
(``code/utils.py``: ``pd.read_csv(..., header=0, index_col=0)``)::

    occupancy.csv | volume.csv | duration.csv   timestamp index column, then one column per
                                                zone id (the header), (T, 275)
    adj.csv          header row = the 275 zone ids, then a 275 x 275 0/1 matrix with
                     self-loops, no index column (not symmetric as published)
    distance.csv     the same layout, zone-to-zone distances in metres

``graph.source`` picks the adjacency (``GRAPH_SOURCES`` registry):

* ``adjacency`` (default): adj.csv as published (``self_loops: false`` zeroes the diagonal);
* ``distance``: a Gaussian kernel of distance.csv, ``w_ij = exp(-(d_ij / sigma)^2)``,
  ``sigma`` = ``graph.sigma_m`` or the std of the distances, weights below ``threshold``
  set to 0 (needs a ``distance`` file in the YAML).

The series columns must be the graph's zone ids: in the same order, or the same set (then
they are reordered to the graph's order); any other difference is an error naming the ids.
The values are read as published (the data were imputed by their publishers, so there is
no gap to mask; zeros are real readings, e.g. no charging at night, so the YAMLs have
``null_value: null`` and the metrics count them; MAPE skips zero targets).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd

from stbench.registry import Registry

from .base import DataError, RawSeries
from .formats import FORMATS, DataFormat, Option, ReadContext, check_adjacency, reading, to_ns
from .graphs import gaussian_kernel

#: graph.source -> builder(ctx, zone ids of adj.csv, adjacency) -> (N, N) weights
GRAPH_SOURCES: Registry[Callable[..., np.ndarray]] = Registry("UrbanEV graph source")


def read_zone_matrix(path: Path, what: str) -> tuple[list[str], np.ndarray]:
    """UrbanEV's square CSV (header row = zone ids, no index column) -> (ids, (N, N) float64)."""
    with reading(path, f"{what} (header row of zone ids, then an N x N matrix)"):
        df = pd.read_csv(path, header=0, index_col=None)
        mat = df.apply(pd.to_numeric, errors="raise").to_numpy(dtype=np.float64)
    ids = [str(c).strip() for c in df.columns]
    if mat.shape[0] != mat.shape[1]:
        raise DataError(f"{path}: {what} must be square: {mat.shape[1]} zone ids in the header but "
                        f"{mat.shape[0]} rows (truncated or not UrbanEV's layout)")
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise DataError(f"{path}: zone id {dup} appears twice in the header")
    return ids, check_adjacency(mat, path).astype(np.float64)


@GRAPH_SOURCES.register("adjacency")
def _from_adjacency(ctx: ReadContext, ids: list, adj: np.ndarray) -> np.ndarray:
    """adj.csv as published; ``self_loops: false`` zeroes the diagonal."""
    out = adj.copy()
    if not ctx.graph["self_loops"]:
        np.fill_diagonal(out, 0.0)
    return out


@GRAPH_SOURCES.register("distance")
def _from_distance(ctx: ReadContext, ids: list, adj: np.ndarray) -> np.ndarray:
    """exp(-(d / sigma)^2) of distance.csv (metres), zeroed below ``threshold``."""
    if not ctx.has("distance"):
        raise DataError(f"{ctx.name}: graph.source is 'distance' but the data set's YAML names no "
                        f"files.distance (UrbanEV's distance.csv)")
    dp = ctx.path("distance")
    dids, dist = read_zone_matrix(dp, "distance matrix")
    if dids != ids:
        raise DataError(f"{dp}: zone ids differ from those of {ctx.path('graph')} "
                        f"(first difference: {_first_difference(dids, ids)})")
    if (dist < 0).any():
        raise DataError(f"{dp}: negative distance at row {int(np.argwhere(dist < 0)[0][0])}")
    return gaussian_kernel(dist, sigma=ctx.graph["sigma_m"], threshold=ctx.graph["threshold"],
                           self_loops=ctx.graph["self_loops"]).astype(np.float64)


def _first_difference(a: list, b: list) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"position {i}: {x} vs {y}"
    return f"lengths {len(a)} vs {len(b)}"


def align_columns(cols: list, ids: list, series: Path, graph: Path) -> Optional[np.ndarray]:
    """Column positions that put the series in the graph's zone order (None: already in order)."""
    if cols == ids:
        return None
    if len(cols) != len(ids) or set(cols) != set(ids):
        only_s = sorted(set(cols) - set(ids))[:5]
        only_g = sorted(set(ids) - set(cols))[:5]
        raise DataError(f"{series}: {len(cols)} zone columns but {graph} lists {len(ids)} zones; columns not "
                        f"in the graph: {only_s}; zones without a column: {only_g}")
    pos = {c: i for i, c in enumerate(cols)}
    return np.array([pos[z] for z in ids], dtype=np.int64)


@FORMATS.register("urbanev_csv")
class UrbanEVCsv(DataFormat):
    """UrbanEV zone series CSV (timestamp index column) + adj.csv (+ distance.csv)."""

    files = {"series": True, "graph": True, "distance": False}
    graph = {"source": Option(str, "adjacency", choices=("adjacency", "distance"), nullable=False,
                              doc="adj.csv as published, or a Gaussian kernel of distance.csv"),
             "self_loops": Option(bool, True, nullable=False),
             "sigma_m": Option(float, None, doc="kernel width in metres (None: std of the distances)"),
             "threshold": Option(float, 0.1, nullable=False, doc="kernel weights below -> 0")}

    def read(self, ctx: ReadContext) -> RawSeries:
        sp, gp = ctx.path("series"), ctx.path("graph")
        with reading(sp, "UrbanEV series CSV (timestamp index column + one column per zone)"):
            df = pd.read_csv(sp, header=0, index_col=0, low_memory=False)
        if df.shape[1] == 0 or df.shape[0] == 0:
            raise DataError(f"{sp}: no zone column or no row; expected a timestamp index column and one "
                            f"column per zone id")
        with reading(sp, "timestamps of the index column"):
            ts = to_ns(pd.to_datetime(df.index, format="mixed").values)
        with reading(sp, "numeric zone values"):
            values = df.apply(pd.to_numeric, errors="raise").to_numpy(dtype=np.float64)
        ids, adj = read_zone_matrix(gp, "adjacency matrix")
        order = align_columns([str(c).strip() for c in df.columns], ids, sp, gp)
        if order is not None:
            values = values[:, order]
        weights = GRAPH_SOURCES.get(ctx.graph["source"])(ctx, ids, adj)
        files = [sp, gp] + ([ctx.path("distance")] if ctx.graph["source"] == "distance" else [])
        return ctx.raw(values.astype(np.float32), weights, ts, files, node_ids=ids,
                       columns_reordered=order is not None)
