"""Gridded weather readers: one variable (time, lat, lon) of a NetCDF or GRIB file.

The grid is flattened row-major to (T, H * W) nodes. Cells that are NaN at every step
(sea masks, e.g. WFDE5 over water) are dropped; any other NaN stays NaN and is masked by
the protocol, never filled.

Completeness: where the YAML records the file's size or sha256 the loader checks those.
Otherwise the time axis itself is checked: a constant step (``check_regular``), no empty
steps (all cells NaN) at either end, the step count ``time.steps`` where the YAML gives
one; a GRIB file also needs ``time.steps`` then, since one cut exactly between two
messages is a valid, shorter GRIB file (a cut inside a message is caught by
``check_grib_complete``). The graph links kept cells that are 4- or 8-neighbours on the
grid (binary weights, no self-loops). GRIB files are read with xarray's ``cfgrib`` engine
with ``indexpath=""`` so nothing is written next to a read-only file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import DataError, RawSeries
from .formats import FORMATS, DataFormat, Option, ReadContext, reading, to_ns
from .graphs import grid_adjacency


class _Grid(DataFormat):
    engine: str = ""
    backend_kwargs: dict = {}
    files = {"series": True}
    options = {"variable": Option(str, None, doc="variable name (None: the only data variable)"),
               "time_coord": Option(str, "time", nullable=False,
                                    doc="coordinate holding the timestamps (a 1-D coordinate on the time axis)")}
    graph = {"neighbourhood": Option(int, 4, choices=(4, 8), nullable=False)}

    def open(self, path: Path):
        import importlib.util

        import xarray as xr

        module = {"netcdf4": "netCDF4", "cfgrib": "cfgrib", "h5netcdf": "h5netcdf"}.get(self.engine)
        if module and importlib.util.find_spec(module) is None:  # xarray would say 'unrecognized engine'
            raise ImportError(f"No module named {module!r} (xarray's {self.engine} engine)", name=module)

        return xr.open_dataset(path, engine=self.engine, backend_kwargs=self.backend_kwargs or None,
                               cache=False)

    def read(self, ctx: ReadContext) -> RawSeries:
        path = ctx.path("series")
        recorded = ctx.recorded("series")
        with reading(path, f"{self.engine} dataset"):
            ds = self.open(path)
        try:
            if not recorded:
                self.check_length_known(ctx, path)
            with reading(path, f"{self.engine} dataset"):
                raw = self._read(ctx, ds, path)
        finally:
            ds.close()
        if not recorded:  # no size / sha256 to catch a short file: the time axis must be whole
            check_complete_ends(raw, path)
        return raw

    def check_length_known(self, ctx: ReadContext, path: Path) -> None:
        """Hook: raise when a file without recorded size/sha256 could be short undetectably."""

    def _read(self, ctx: ReadContext, ds, path: Path) -> RawSeries:
        names = list(ds.data_vars)
        var = ctx.options["variable"] or (names[0] if len(names) == 1 else None)
        if var not in ds.data_vars:
            raise DataError(f"{path}: variable {ctx.options['variable']!r} not found; variables: {names} "
                            f"(set options.variable)")
        da = ds[var]
        if da.ndim != 3:
            raise DataError(f"{path}: variable {var!r} must have 3 dimensions (time, lat, lon), "
                            f"got {da.dims} with shape {da.shape}")
        tc = ctx.options["time_coord"]
        if tc not in da.coords or da.coords[tc].ndim != 1:
            raise DataError(f"{path}: no 1-D time coordinate {tc!r} on {var!r} (coordinates: "
                            f"{list(da.coords)}; set options.time_coord)")
        tdim = da.coords[tc].dims[0]
        space = [d for d in da.dims if d != tdim]
        da = da.transpose(tdim, *space)
        arr = np.asarray(da.values, dtype=np.float32)
        T, H, W = arr.shape
        flat = arr.reshape(T, H * W)
        keep = ~np.isnan(flat).all(axis=0)
        if not keep.any():
            raise DataError(f"{path}: variable {var!r} is NaN everywhere")
        adj = grid_adjacency(keep.reshape(H, W), ctx.graph["neighbourhood"])
        ys = np.asarray(da.coords[space[0]].values) if space[0] in da.coords else np.arange(H)
        xs = np.asarray(da.coords[space[1]].values) if space[1] in da.coords else np.arange(W)
        rows, cols = np.nonzero(keep.reshape(H, W))
        node_ids = [f"{float(ys[r]):g},{float(xs[c]):g}" for r, c in zip(rows, cols)]
        return ctx.raw(flat[:, keep], adj, to_ns(da.coords[tc].values), [path], node_ids=node_ids,
                       grid_shape=(H, W), grid_dims=tuple(space), cells_dropped=int((~keep).sum()),
                       variable=var)


@FORMATS.register("netcdf_grid")
class NetcdfGrid(_Grid):
    """NetCDF (netCDF4 / HDF5) grid, read with xarray's netcdf4 engine."""

    engine = "netcdf4"


@FORMATS.register("grib_grid")
class GribGrid(_Grid):
    """GRIB grid, read with xarray's cfgrib engine (no index file written)."""

    engine = "cfgrib"
    backend_kwargs = {"indexpath": ""}
    options = {**_Grid.options,
               "time_coord": Option(str, "valid_time", nullable=False,
                                    doc="GRIB: valid_time = reference time + forecast step")}

    def open(self, path: Path):
        check_grib_complete(path)
        return super().open(path)

    def check_length_known(self, ctx: ReadContext, path: Path) -> None:
        """A GRIB file cut between two messages is a valid, shorter GRIB file: without a
        recorded size or sha256 only ``time.steps`` can tell it from the whole file."""
        if ctx.steps is None:
            raise DataError(f"{ctx.name}: {path}: a GRIB file cut between two messages reads as a "
                            f"valid shorter file, so the data set's YAML must give files.series.size "
                            f"or files.series.sha256 (`python run_benchmark.py data verify {ctx.name}` "
                            f"prints the sha256) or time.steps (the expected number of time steps)")


def check_complete_ends(raw: RawSeries, path: Path) -> None:
    """No empty time steps (every kept cell NaN) at the start or the end of the axis: an
    incomplete file (e.g. a GRIB missing the last step's messages) reads that way."""
    empty = np.isnan(raw.values).all(axis=1)
    if not empty.any():
        return
    head = int(np.argmin(empty)) if not empty.all() else len(empty)
    tail = int(np.argmin(empty[::-1])) if not empty.all() else len(empty)
    if tail:
        raise DataError(f"{path}: the last {tail} of {raw.num_steps} time steps are empty (every cell "
                        f"NaN from {raw.timestamps[-tail]}): the file is incomplete; record its size "
                        f"or sha256 in the data set's YAML to check it")
    if head:
        raise DataError(f"{path}: the first {head} of {raw.num_steps} time steps are empty (every cell "
                        f"NaN up to {raw.timestamps[head - 1]}): the file is incomplete; record its size "
                        f"or sha256 in the data set's YAML to check it")


def check_grib_complete(path: Path) -> list:
    """cfgrib silently skips a cut-off last message, so walk the messages first; return
    their byte spans [(start, end), ...].

    Each message starts with 'GRIB', states its total length (edition 1: 3 bytes at
    offset 4; edition 2: 8 bytes at offset 8) and ends with '7777'; bytes between
    messages (zero padding) are skipped.
    """
    import mmap

    size = path.stat().st_size
    if size == 0:
        raise DataError(f"{path}: cannot read GRIB file: it is empty")
    spans = []
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        pos, count = 0, 0
        while True:
            i = m.find(b"GRIB", pos)
            if i < 0:
                break
            edition = m[i + 7] if i + 8 <= size else 0
            if edition == 1:
                length = int.from_bytes(m[i + 4:i + 7], "big")
            elif edition == 2 and i + 16 <= size:
                length = int.from_bytes(m[i + 8:i + 16], "big")
            else:
                raise DataError(f"{path}: cannot read GRIB file: message {count + 1} at byte {i} is cut off "
                                f"or has an unknown edition")
            end = i + length
            if length < 8 or end > size or m[end - 4:end] != b"7777":
                raise DataError(f"{path}: cannot read GRIB file: truncated or corrupt (message {count + 1} "
                                f"at byte {i} should end at byte {end} with '7777'; the file has {size} bytes)")
            spans.append((i, end))
            pos, count = end, count + 1
    if count == 0:
        raise DataError(f"{path}: cannot read GRIB file: no GRIB message found")
    return spans
