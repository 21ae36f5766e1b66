"""LargeST (Liu et al., NeurIPS 2023 D&B): California traffic flow, read from its published files.

Two layouts, both as LargeST's own code writes or reads them (``<root>/LARGEST`` mirrors
the ``data/`` folder of the LargeST repository):

``largest_raw`` -- the Kaggle release (``ca/``)::

    ca_his_raw_<year>.h5   pandas HDF store: one DataFrame, DatetimeIndex of 5-minute steps
                           x one column per sensor ID (T_raw, 8600), flow in vehicles / 5 min
    ca_meta.csv            one row per sensor: ID, Lat, Lng, District, County, Fwy, Lanes,
                           Type, Direction, ID2 (ID2 = the sensor's row/column in ca_rn_adj)
    ca_rn_adj.npy          (8600, 8600) road-network adjacency (with self-loops)

  reproduced steps of LargeST's notebooks (data/ca/process_ca_his.ipynb and
  data/{sd,gba,gla}/generate_*_dataset.ipynb):

  1. subset: meta rows with ``District`` in ``options.districts`` (SD: 11; GBA: 4;
     GLA: 7, 8, 12; CA: null = every row), in the meta's row order;
  2. series columns selected by the meta's ``ID``; adjacency rows and columns by ``ID2``:
     ``A_sub = A[ID2][:, ID2]``;
  3. resampling to ``options.resample_minutes`` (15) by the mean of the valid readings in
     each bin, ``x_b = sum_{t in b} m_t x_t / sum_{t in b} m_t`` (NaN for an empty bin),
     then rounding to ``options.round`` decimals (0, as LargeST's ``.round(0)``);
  4. missing values: LargeST fills the NaN left after resampling with 0
     (``options.fill_missing: 0``, the default, so the model inputs and the scaler equal
     LargeST's); the data sets' ``null_value: 0`` masks those entries (and any true 0) in
     every metric and loss, as for the other traffic sets; ``fill_missing: null`` keeps NaN
     (masked as well; the z-scored input is then 0 = the training mean).

  The time axis is the calendar year ``options.year``: bins ``year-01-01 00:00 + k step``,
  k = 0 .. 35,039 for 2019 at 15 minutes (35,136 in a leap year); rows of the file outside
  that year are ignored, a file without a row in it is an error. ``year: null`` spans the
  bins of the file's first to last row instead (pandas' ``resample``; the same axis for the
  published whole-year files). The h5 file is read in
  row chunks and binned on the fly (memory: the selected columns at the output step, not
  the 5-minute frame: 8,600 sensors x 105,120 rows are 7.2 GB as float64).

``largest_npz`` -- the output of LargeST's ``data/generate_data_for_training.py``::

    <sub>/<year>/his.npz       data (T, N, C) float64: channel 0 the z-scored flow,
                               1 time of day in [0, 1), 2 day of week / 7; mean, std (scalars)
    <sub>/<year>/idx_train.npy idx_val.npy idx_test.npy: window anchors t (int), inputs
                               t - 11 .. t, targets t + 1 .. t + 12 (6:2:2 by windows)
    <sub>/<sub>_rn_adj.npy     (N, N) adjacency

  The flow is ``x = round(z std + mean, round)`` (exact integers back for LargeST's
  rounded data); the zeros LargeST filled in are null values again. Timestamps come from
  the YAML's ``time.start`` / ``time.step_minutes`` and are checked against channels 1
  and 2 where the file has them. The split is the one in the idx files, not a ratio:
  anchor t becomes the window starting at ``t - P + 1`` (``RawSeries.extra
  ["split_anchors"]``, used by ``datasets.protocol.WindowedData``); LargeST's split is
  round(0.6 n) / round(0.2 n) / rest of the n = T - 23 windows, which is also what the
  ratio split [0.6, 0.2, 0.2] gives on the raw layout. ``his.npz`` is streamed row block
  by row block (CA: 35,040 x 8,600 x 3 float64 = 7.2 GB uncompressed), keeping channel 0.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from .base import DataError, RawSeries
from .formats import FORMATS, DataFormat, Option, ReadContext, check_adjacency, reading

#: columns of ca_meta.csv the reader needs (the others are kept by LargeST but not used here)
META_COLUMNS = ("ID", "District", "ID2")
#: target bytes of one h5 row chunk (the whole width of the file is read per chunk)
CHUNK_BYTES = 64 << 20


# ----------------------------------------------------------------------------- shared helpers

def read_meta(path: Path) -> pd.DataFrame:
    """ca_meta.csv -> DataFrame with at least ID (str), District (int), ID2 (int)."""
    with reading(path, "LargeST sensor meta CSV (ID, Lat, Lng, District, ..., ID2)"):
        meta = pd.read_csv(path)
    missing = [c for c in META_COLUMNS if c not in meta.columns]
    if missing:
        raise DataError(f"{path}: meta CSV lacks column(s) {missing} (columns: {list(meta.columns)[:12]}); "
                        f"expected LargeST's ca_meta.csv with columns including {', '.join(META_COLUMNS)}")
    if meta.empty:
        raise DataError(f"{path}: meta CSV has no sensor row")
    for col in ("District", "ID2"):
        vals = pd.to_numeric(meta[col], errors="coerce")
        bad = vals.isna() | (vals != np.round(vals))
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            v = meta[col].iloc[i]
            what = "no value (a truncated file?)" if pd.isna(v) else repr(str(v))
            raise DataError(f"{path}: column {col} must hold integers; line {i + 2} has {what}")
        meta[col] = vals.astype(np.int64)
    meta["ID"] = meta["ID"].astype(str).str.strip()
    dup = meta["ID"][meta["ID"].duplicated()]
    if len(dup):
        raise DataError(f"{path}: sensor ID {dup.iloc[0]} is listed twice")
    dup2 = meta["ID2"][meta["ID2"].duplicated()]
    if len(dup2):
        raise DataError(f"{path}: ID2 {int(dup2.iloc[0])} (adjacency index) is given to two sensors")
    return meta


def select_districts(meta: pd.DataFrame, districts: Optional[Sequence], path: Path, name: str) -> pd.DataFrame:
    """Rows of ``meta`` whose District is in ``districts`` (None: every row), meta order kept."""
    if districts is None:
        return meta.reset_index(drop=True)
    wanted = []
    for d in districts:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise DataError(f"{name}: options.districts: expected a list of PeMS district numbers "
                            f"(integers), got {d!r}")
        wanted.append(int(d))
    have = sorted(set(int(x) for x in meta["District"]))
    unknown = [d for d in wanted if d not in have]
    if unknown:
        raise DataError(f"{name}: options.districts: district {unknown[0]} has no sensor in {path}; "
                        f"districts there: {', '.join(map(str, have))}")
    return meta[meta["District"].isin(wanted)].reset_index(drop=True)


def load_npy(path: Path, what: str, mmap: bool = True) -> np.ndarray:
    """np.load of an .npy (memory-mapped when possible); a truncated file is a DataError naming it."""
    with reading(path, what):
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    if not isinstance(arr, np.ndarray):
        raise DataError(f"{path}: expected one array (.npy), got {type(arr).__name__}")
    return arr


def slice_adjacency(adj_path: Path, id2: np.ndarray, n_meta: int, meta_path: Path) -> np.ndarray:
    """A[ID2][:, ID2] of the (N, N) adjacency in ``adj_path``; checks shape and index range."""
    adj = load_npy(adj_path, "LargeST adjacency (.npy, N x N)")
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        raise DataError(f"{adj_path}: adjacency must be a square (N, N) matrix, got shape {adj.shape}")
    n = adj.shape[0]
    if n_meta > n:
        raise DataError(f"{meta_path}: meta lists {n_meta} sensors but the adjacency {adj_path} has only "
                        f"{n} nodes; meta and adjacency disagree")
    bad = (id2 < 0) | (id2 >= n)
    if bad.any():
        raise DataError(f"{meta_path}: ID2 {int(id2[np.argmax(bad)])} is out of range for the "
                        f"{n} x {n} adjacency in {adj_path}; meta and adjacency disagree")
    with reading(adj_path, "LargeST adjacency (.npy, N x N)"):
        sub = np.asarray(adj[np.ix_(id2, id2)])
    if np.issubdtype(sub.dtype, np.number) and not np.isfinite(sub).all():
        r, c = np.argwhere(~np.isfinite(sub))[0]
        raise DataError(f"{adj_path}: graph contains NaN or inf (first at row {int(id2[r])}, column {int(id2[c])})")
    return check_adjacency(sub, adj_path)


def year_axis(year: int, step_minutes: int) -> np.ndarray:
    """(T,) datetime64[ns] bins of one calendar year at ``step_minutes``."""
    start = np.datetime64(f"{int(year):04d}-01-01T00:00", "ns")
    end = np.datetime64(f"{int(year) + 1:04d}-01-01T00:00", "ns")
    step = np.timedelta64(int(step_minutes), "m").astype("timedelta64[ns]")
    return np.arange(start, end, step)


# ----------------------------------------------------------------------------- raw (h5) layout

def _h5_key(store: pd.HDFStore, key: Optional[str], path: Path) -> str:
    keys = store.keys()
    if key is not None:
        k = key if key.startswith("/") else "/" + key
        if k not in keys:
            raise DataError(f"{path}: no HDF key {key!r} (keys: {keys}); set options.key")
        return k
    if len(keys) != 1:
        raise DataError(f"{path}: {len(keys)} HDF keys {keys}; set options.key to the DataFrame's key")
    return keys[0]


def resample_h5(path: Path, key: Optional[str], ids: List[str], year: Optional[int],
                step_minutes: Optional[int]) -> tuple[np.ndarray, np.ndarray, int]:
    """Stream the pandas HDF frame of ``path`` -> (bin sums / counts mean (T, n) float64, axis, raw step).

    Rows are read in chunks of about CHUNK_BYTES; each chunk's rows inside ``year`` are
    binned by ``(t - year start) // step`` and added to per-bin sums and valid counts
    (``np.add.reduceat`` over runs of equal bins), so the result does not depend on the
    chunking. ``step_minutes`` None keeps the file's own step (no resampling: the rows
    must then sit exactly on the bins).
    """
    with reading(path, "pandas HDF store (LargeST ca_his_raw_<year>.h5)"), pd.HDFStore(path, mode="r") as store:
        k = _h5_key(store, key, path)
        head = store.select(k, start=0, stop=2)
        if not isinstance(head, pd.DataFrame):
            raise DataError(f"{path}: expected a DataFrame (time x sensor ID), got {type(head).__name__}")
        if not isinstance(head.index, pd.DatetimeIndex):
            raise DataError(f"{path}: the DataFrame index must be a DatetimeIndex, got {type(head.index).__name__}")
        cols = [str(c).strip() for c in head.columns]
        pos = {c: i for i, c in enumerate(cols)}
        missing = [s for s in ids if s not in pos]
        if missing:
            raise DataError(f"{path}: {len(missing)} sensor ID(s) of the meta have no column in the h5 "
                            f"(e.g. {missing[:5]}); meta and series disagree")
        take = np.array([pos[s] for s in ids], dtype=np.int64)
        raw_step = None
        if len(head.index) > 1:
            raw_step = int((head.index[1] - head.index[0]) / pd.Timedelta(minutes=1))
        step = int(step_minutes or raw_step or 0)
        if step <= 0:
            raise DataError(f"{path}: cannot tell the file's time step from its first rows; set "
                            f"options.resample_minutes")
        step_ns = np.int64(step) * 60 * 10**9
        if year is None:  # pandas' resample: bins from the first to the last row's bin
            storer = store.get_storer(k)
            nrows = int(getattr(storer, "nrows", None) or storer.shape[0])
            tail = store.select(k, start=nrows - 1, stop=nrows)
            a = head.index.values[:1].astype("datetime64[ns]").astype(np.int64)[0]
            b = tail.index.values[:1].astype("datetime64[ns]").astype(np.int64)[0]
            first, last_t = a - a % step_ns, b - b % step_ns
            axis = np.arange(first, last_t + 1, step_ns).astype("datetime64[ns]")
        else:
            axis = year_axis(year, step)
        t0 = axis[0].astype(np.int64)
        sums = np.zeros((len(axis), len(ids)), dtype=np.float64)
        counts = np.zeros((len(axis), len(ids)), dtype=np.uint16)
        rows = max(256, CHUNK_BYTES // max(8 * len(cols), 1))
        start, last, seen, years = 0, None, 0, set()
        while True:
            chunk = store.select(k, start=start, stop=start + rows)
            if len(chunk) == 0:
                break
            ts = chunk.index.values.astype("datetime64[ns]").astype(np.int64)
            d = np.diff(ts if last is None else np.concatenate([[last], ts]))
            if (d <= 0).any():
                row = start + int(np.argmax(d <= 0)) + (1 if last is None else 0)
                raise DataError(f"{path}: timestamps are not strictly increasing at row {row} "
                                f"({pd.Timestamp(ts[row - start])})")
            last = ts[-1]
            years.update(pd.DatetimeIndex(chunk.index[[0, -1]]).year.tolist())
            b = (ts - t0) // step_ns
            inside = (b >= 0) & (b < len(axis))
            if inside.any():
                if step_minutes is None and ((ts[inside] - t0) % step_ns != 0).any():
                    raise DataError(f"{path}: rows are not on the {step}-minute grid of {year}; set "
                                    f"options.resample_minutes")
                with reading(path, "numeric sensor columns"):
                    vals = chunk.to_numpy(dtype=np.float64)[inside][:, take]
                bins = b[inside]
                first = np.flatnonzero(np.concatenate([[True], bins[1:] != bins[:-1]]))
                ok = np.isfinite(vals)
                sums[bins[first]] += np.add.reduceat(np.where(ok, vals, 0.0), first, axis=0)
                counts[bins[first]] += np.add.reduceat(ok.astype(np.uint16), first, axis=0)
                seen += int(inside.sum())
            start += len(chunk)
    if seen == 0:
        raise DataError(f"{path}: no row in year {year} (the file holds {sorted(years)}); set options.year "
                        f"(null: the file's own span) or use the file of that year")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return mean, axis, raw_step or step


@FORMATS.register("largest_raw")
class LargestRaw(DataFormat):
    """LargeST's Kaggle files: ca_his_raw_<year>.h5 + ca_meta.csv + ca_rn_adj.npy (module doc)."""

    files = {"series": True, "meta": True, "graph": True}
    options = {
        "year": Option(int, 2019, doc="calendar year of the time axis (None: the file's first to last bin)"),
        "districts": Option(list, None, doc="PeMS districts to keep (None: every sensor = CA)"),
        "resample_minutes": Option(int, 15, doc="output step by mean over bins (None: the file's step)"),
        "round": Option(int, 0, doc="decimals to round the resampled flow to (None: no rounding)"),
        "fill_missing": Option(float, 0.0, doc="value for empty bins (LargeST: 0; None: keep NaN)"),
        "key": Option(str, None, doc="HDF key of the DataFrame (None: the only one)"),
        "nodes": Option(int, None, doc="expected sensor count of the subset (None: not checked)"),
    }

    def read(self, ctx: ReadContext) -> RawSeries:
        h5, mp, ap = ctx.path("series"), ctx.path("meta"), ctx.path("graph")
        o = ctx.options
        step = o["resample_minutes"]
        if step is not None and (step < 1 or 1440 % step):
            raise DataError(f"{ctx.name}: options.resample_minutes must divide a day (1440 min), got {step}")
        if o["round"] is not None and o["round"] < 0:
            raise DataError(f"{ctx.name}: options.round must be >= 0 decimals or null, got {o['round']}")
        full = read_meta(mp)
        meta = select_districts(full, o["districts"], mp, ctx.name)
        ids = meta["ID"].tolist()
        if o["nodes"] is not None and len(ids) != o["nodes"]:
            raise DataError(f"{mp}: districts {o['districts'] or 'all'} select {len(ids)} sensors, expected "
                            f"{o['nodes']} (options.nodes); a different version of ca_meta.csv?")
        adj = slice_adjacency(ap, meta["ID2"].to_numpy(np.int64), len(full), mp)
        mean, axis, raw_step = resample_h5(h5, o["key"], ids, o["year"], step)
        empty = ~np.isfinite(mean)
        if o["round"] is not None:
            mean = np.round(mean, o["round"])
        if o["fill_missing"] is not None:
            mean[empty] = o["fill_missing"]
        return ctx.raw(mean.astype(np.float32), adj, axis, [h5, mp, ap], node_ids=ids,
                       raw_step_minutes=raw_step, empty_bins=int(empty.sum()),
                       districts=sorted(set(int(d) for d in meta["District"])))


# ----------------------------------------------------------------------------- processed (npz) layout

def _npy_header(f, path: Path, member: str):
    """(shape, fortran_order, dtype) of the .npy stream ``f`` (numpy's format 1.0 / 2.0 / 3.0)."""
    fmt = np.lib.format
    version = fmt.read_magic(f)
    readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
    if version not in readers:
        raise DataError(f"{path}: array {member} uses .npy format {version}; expected 1.0 or 2.0")
    return readers[version](f)


def stream_npz_channel(path: Path, key: str, channel: int, aux_channels: Sequence[int] = (1, 2),
                       block_bytes: int = CHUNK_BYTES) -> tuple[np.ndarray, Dict[int, np.ndarray], tuple]:
    """Channel ``channel`` of the (T, N, C) array ``key`` of an npz, read block of rows by block.

    Returns (values (T, N) float32, {c: (T,) channel c of node 0 for c in aux_channels that
    exist}, shape). Memory: the output plus one block, not the (T, N, C) float64 array.
    A short member (truncated file) or a bad CRC is a DataError naming the file.
    """
    member = f"{key}.npy"
    with reading(path, "npz archive (LargeST his.npz)"), zipfile.ZipFile(path) as zf:
        if member not in zf.namelist():
            raise DataError(f"{path}: no array {key!r} (arrays: {[n[:-4] for n in zf.namelist()]})")
        with zf.open(member) as f:
            shape, fortran, dtype = _npy_header(f, path, member)
            if len(shape) != 3:
                raise DataError(f"{path}: array {key!r} must have 3 dimensions (time, nodes, channels), "
                                f"got shape {shape}")
            if dtype.hasobject or fortran:
                raise DataError(f"{path}: array {key!r} must be a C-ordered numeric array, got dtype {dtype}"
                                f"{' (Fortran order)' if fortran else ''}")
            T, N, C = shape
            if not 0 <= channel < C:
                raise DataError(f"{path}: channel {channel} out of range, the array has {C} channels")
            row = N * C * dtype.itemsize
            rows = max(1, block_bytes // max(row, 1))
            out = np.empty((T, N), dtype=np.float32)
            aux = {c: np.empty(T, dtype=np.float64) for c in aux_channels if c < C}
            for a in range(0, T, rows):
                b = min(T, a + rows)
                buf = f.read(row * (b - a))
                if len(buf) != row * (b - a):
                    raise DataError(f"{path}: array {key!r} ends at row {a + len(buf) // max(row, 1)} of {T} "
                                    f"(truncated file)")
                block = np.frombuffer(buf, dtype=dtype).reshape(b - a, N, C)
                out[a:b] = block[:, :, channel]
                for c, arr in aux.items():
                    arr[a:b] = block[:, 0, c]
            f.read()  # to the end of the member: zipfile checks its CRC there
    return out, aux, tuple(shape)


def _scalar(path: Path, key: str) -> float:
    with reading(path, "npz archive (LargeST his.npz)"), np.load(path, allow_pickle=False) as z:
        if key not in z.files:
            raise DataError(f"{path}: no array {key!r} (arrays: {z.files}); LargeST's his.npz holds data, mean, std")
        v = np.asarray(z[key], dtype=np.float64)
    if v.size != 1 or not np.isfinite(v).all():
        raise DataError(f"{path}: {key!r} must be one finite number, got shape {v.shape}")
    return float(v.reshape(()))


def read_anchors(paths: Dict[str, Path], num_steps: int) -> Dict[str, np.ndarray]:
    """{split: (n_split,) int64 anchors} from idx_<split>.npy; sorted, disjoint, chronological."""
    out: Dict[str, np.ndarray] = {}
    prev_end, prev = -1, None
    for split in ("train", "val", "test"):
        p = paths[split]
        idx = np.asarray(load_npy(p, f"window index array idx_{split}.npy", mmap=False))
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise DataError(f"{p}: expected a 1-D integer array of window indices, got dtype {idx.dtype} "
                            f"shape {idx.shape}")
        if idx.size == 0:
            raise DataError(f"{p}: no window index (empty array)")
        if (np.diff(idx) <= 0).any():
            raise DataError(f"{p}: window indices must be strictly increasing")
        if idx[0] < 0 or idx[-1] >= num_steps:
            raise DataError(f"{p}: window index {int(idx[0] if idx[0] < 0 else idx[-1])} out of range for "
                            f"{num_steps} steps")
        if idx[0] <= prev_end:
            raise DataError(f"{p}: its first window {int(idx[0])} is not after the last one of "
                            f"idx_{prev}.npy ({prev_end}); the splits must be chronological and disjoint")
        prev_end, prev = int(idx[-1]), split
        out[split] = idx.astype(np.int64)
    return out


@FORMATS.register("largest_npz")
class LargestNpz(DataFormat):
    """LargeST's generate_data_for_training.py output: his.npz + idx_*.npy + <sub>_rn_adj.npy."""

    files = {"series": True, "graph": True, "idx_train": True, "idx_val": True, "idx_test": True}
    options = {"key": Option(str, "data", nullable=False, doc="array name in his.npz"),
               "channel": Option(int, 0, nullable=False, doc="z-scored flow channel"),
               "round": Option(int, 0, doc="decimals after de-normalising (None: none)")}
    needs_time = True

    def read(self, ctx: ReadContext) -> RawSeries:
        npz, ap = ctx.path("series"), ctx.path("graph")
        idx_paths = {s: ctx.path(f"idx_{s}") for s in ("train", "val", "test")}
        z, aux, shape = stream_npz_channel(npz, ctx.options["key"], ctx.options["channel"])
        mean, std = _scalar(npz, "mean"), _scalar(npz, "std")
        values = z.astype(np.float64) * std + mean
        if ctx.options["round"] is not None:
            values = np.round(values, ctx.options["round"])
        adj = check_adjacency(np.asarray(load_npy(ap, "LargeST adjacency (.npy, N x N)")), ap)
        if adj.shape[0] != values.shape[1]:
            raise DataError(f"{ap}: adjacency has {adj.shape[0]} nodes but {npz} has {values.shape[1]}; "
                            f"they disagree")
        ts = ctx.time_axis(values.shape[0])
        check_time_channels(aux, ts, npz)
        anchors = read_anchors(idx_paths, values.shape[0])
        return ctx.raw(values.astype(np.float32), adj, ts, [npz, ap, *idx_paths.values()],
                       split_anchors=anchors, scaler={"mean": mean, "std": std})


def check_time_channels(aux: Dict[int, np.ndarray], ts: np.ndarray, path: Path, tol: float = 1e-6) -> None:
    """Channel 1 (time of day in days) and 2 (day of week / 7) of node 0 must match ``ts``."""
    days = ts.astype("datetime64[D]")
    want = {1: (ts - days).astype(np.int64) / 86400e9,
            2: ((days.astype(np.int64) + 3) % 7) / 7.0}  # 1970-01-01 was a Thursday (3)
    for c, have in aux.items():
        bad = np.abs(have - want[c]) > tol
        if bad.any():
            i = int(np.argmax(bad))
            what = "time of day" if c == 1 else "day of week / 7"
            raise DataError(f"{path}: channel {c} ({what}) is {have[i]:.6f} at row {i} but time.start / "
                            f"time.step_minutes of the data set's YAML give {want[c][i]:.6f} ({ts[i]}); "
                            f"fix time.start")
