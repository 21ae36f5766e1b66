"""Generic readers for a user's own data: ``wide_table`` and ``long_table`` (CSV or Parquet).

* ``wide_table``: one row per time step, a time column (or composite time columns, or
  none) and one column per node (the header names the nodes)::

      time,             S001, S002, ...
      2012-03-01 00:00, 64.4, 67.6, ...

* ``long_table``: one row per (time, node) reading, from one file or several files
  matched by a glob (``files.series.path: "PRSA_Data_*.csv"``, e.g. one per station;
  ``datasets/file_sets.py``)::

      time,             node, value          year,month,day,hour,PM2.5,station
      2012-03-01 00:00, S001, 64.4     or    2013,3,1,0,4,Aotizhongxin

Both build the series on a **regular time axis** from ``time.step_minutes`` (required):
step k is ``t0 + k * step`` with ``t0 = time.start`` if given, else the first timestamp,
and the axis ends at the last timestamp (or has exactly ``time.steps`` steps when given).
A time step with no row, or a node with no row at a step, becomes a **missing value**
(NaN): never filled, masked in the metrics. A timestamp off that grid, before ``t0`` or
past the last step is an error; so are duplicate (time, node) readings (a duplicate
time row of a wide table), a missing column, a non-numeric value and an unparsable time.

Missing values, exactly (``datasets/protocol.py``, ``datasets/metrics.py``):

* NaN (an empty cell, or any value listed in ``options.missing_values``, converted on
  read): masked in the metrics and the training loss; left out of the scaler fit; the
  model input is 0 there (the training mean in z-units).
* ``null_value: V`` (top level): the value is kept as it is (the published convention,
  e.g. METR-LA's 0) and masked in the metrics and the training loss exactly like NaN;
  but it is a finite number, so the model sees it z-scored, ``(V - mean) / std``, and
  the scaler fit includes it unless the run sets ``dataset: {scaler_ignore_null: true}``.

So a sentinel such as -1 in new data is best read as NaN (``options.missing_values:
[-1]``); ``null_value: -1`` reproduces a convention that keeps it (then set
``scaler_ignore_null: true`` so -1 does not pull the mean and std).

Options (both formats unless noted):

=================  ==========  =========================================================
key                default     meaning
=================  ==========  =========================================================
time_column        time        the time column (parsed by pandas, or ``time_format``);
                               wide_table: null = no time column, rows are consecutive
                               steps from ``time.start``
time_parts         null        composite time: {year: COL, month: COL, day: COL, hour:
                               COL, minute: COL, second: COL} (year, month, day needed);
                               replaces time_column
time_format        null        strftime format of time_column (e.g. "%Y-%m-%d %H:%M")
node_column        node        long_table: the node id column; null = one node per
                               file, named by the file name without its extension
value_column       value       long_table: the target column (e.g. PM2.5)
nodes              null        the nodes to keep, in this order (null: all; wide: the
                               column order, long: order of first appearance over the
                               files in sorted order)
drop_columns       null        wide_table: columns that are not nodes (besides time)
missing_values     null        values read as NaN (missing), e.g. [-1, -999]
sep                ","         CSV field separator
file_type          auto        csv | parquet | auto (by extension: .parquet / .pq)
=================  ==========  =========================================================

The graph comes from the ``graph:`` block (``datasets/graph_options.py``: coords, edges,
matrix, complete, correlation, none); ``files.coords`` / ``files.graph`` hold the files
the chosen kind reads.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .base import DataError, RawSeries
from .file_sets import role_of, unlisted_matches
from .formats import FORMATS, DataFormat, Option, ReadContext, SpecError, reading, to_ns
from .graph_options import GRAPH_KINDS, GRAPH_OPTIONS, build_graph, GraphInput, training_span

TIME_PARTS = ("year", "month", "day", "hour", "minute", "second")
FILE_TYPES = ("auto", "csv", "parquet")

_COMMON_OPTIONS: Dict[str, Option] = {
    "time_column": Option(str, "time"),
    "time_parts": Option(dict, None),
    "time_format": Option(str, None),
    "nodes": Option(list, None),
    "missing_values": Option(list, None),
    "sep": Option(str, ",", nullable=False),
    "file_type": Option(str, "auto", choices=FILE_TYPES, nullable=False),
}


class _TableFormat(DataFormat):
    """Shared checks and helpers of the two table formats."""

    files = {"series": True, "coords": False, "graph": False}
    graph = GRAPH_OPTIONS
    long = False

    @classmethod
    def check_spec(cls, spec: Dict[str, Any], where: str) -> None:
        o, fmt = spec["options"], spec["format"]
        if not spec["time"]["step_minutes"]:
            raise SpecError(f"{where}: time.step_minutes is required for format {fmt} (the regular time "
                            f"axis is built from it; missing steps become missing values)")
        if spec["time"]["step_minutes"] <= 0:
            raise SpecError(f"{where}: time.step_minutes: expected a positive number, got "
                            f"{spec['time']['step_minutes']!r}")
        parts = o["time_parts"]
        if parts is not None:
            bad = sorted(set(map(str, parts)) - set(TIME_PARTS))
            if bad:
                raise SpecError(f"{where}: options.time_parts: unknown part {bad[0]!r}; valid parts: "
                                f"{', '.join(TIME_PARTS)}")
            need = [p for p in ("year", "month", "day") if p not in parts]
            if need:
                raise SpecError(f"{where}: options.time_parts needs {', '.join(need)} (a column name each)")
            for p, col in parts.items():
                if not isinstance(col, str) or not col:
                    raise SpecError(f"{where}: options.time_parts.{p}: expected a column name, got {col!r}")
            if o["time_format"] is not None:
                raise SpecError(f"{where}: options.time_format applies to time_column, not time_parts")
        elif o["time_column"] is None:
            if cls.long:
                raise SpecError(f"{where}: options.time_column or options.time_parts is required for "
                                f"format {fmt} (each row needs its time)")
            if not spec["time"]["start"]:
                raise SpecError(f"{where}: options.time_column is null (rows are consecutive steps), so "
                                f"time.start is required")
        for key in ("nodes", "missing_values", "drop_columns"):
            vals = o.get(key)
            if vals is None:
                continue
            kind = (int, float) if key == "missing_values" else (str, int)
            if not vals or not all(isinstance(v, kind) and not isinstance(v, bool) for v in vals):
                what = "numbers" if key == "missing_values" else "node ids / column names"
                raise SpecError(f"{where}: options.{key}: expected a non-empty list of {what}, got {vals!r}")
            if key != "missing_values" and len(set(map(str, vals))) != len(vals):
                dup = next(v for i, v in enumerate(vals) if str(v) in map(str, vals[:i]))
                raise SpecError(f"{where}: options.{key}: {dup!r} is listed twice")

    # ------------------------------------------------------------------ helpers
    def time_columns(self, o: Dict[str, Any]) -> List[str]:
        if o["time_parts"] is not None:
            return list(dict.fromkeys(o["time_parts"].values()))
        return [o["time_column"]] if o["time_column"] is not None else []

    def text_columns(self, o: Dict[str, Any]) -> List[str]:
        """Columns read as strings: the time column (time parts are numbers) and the node column."""
        out = [o["time_column"]] if o["time_parts"] is None and o["time_column"] is not None else []
        return out + ([o["node_column"]] if o.get("node_column") else [])

    def graph_for(self, ctx: ReadContext, values: np.ndarray, node_ids: List[str],
                  steps: int) -> Tuple[np.ndarray, Dict[str, Any], List[Path]]:
        kind = GRAPH_KINDS.get(ctx.graph["kind"])
        valid = np.isfinite(values)
        if ctx.null_value is not None:
            valid &= values != ctx.null_value
        span = training_span(steps, ctx.split or (0.7, 0.1, 0.2), name=ctx.name) if kind.uses_training_span else 0
        files = {kind.file_role: ctx.path(kind.file_role)} if kind.file_role else {}
        adj, rec = build_graph(GraphInput(name=ctx.name, values=values, valid=valid, node_ids=node_ids,
                                          options=ctx.graph, train_steps=span, files=files))
        return adj, rec, list(files.values())


class DataWarning(UserWarning):
    """Data that loads but is probably mislabelled (e.g. a time step that leaves half the grid empty)."""


def check_text_complete(path: Path, sep: str, header_fields: Optional[int], recorded: bool, role: str) -> None:
    """A text table whose last row is cut is a DataError (an interrupted copy or download).

    Cut = the file does not end with a newline, or its last row has fewer fields than the
    header. Skipped when the data set's YAML records the file's size or sha256 (checked
    on load: a whole file is then known)."""
    if recorded:
        return
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(max(0, size - (1 << 16)))
        tail = f.read()
    fix = (f"if the file is whole, end it with a newline or record files.{role}.size (or sha256) in the "
           f"data set's YAML")
    if tail and not tail.endswith(b"\n"):
        raise DataError(f"{path}: does not end with a newline, so its last row may be cut (an interrupted "
                        f"copy or download?); {fix}")
    if header_fields is None or not tail.strip():
        return
    last = tail.rstrip(b"\r\n").rsplit(b"\n", 1)[-1].decode("utf-8", "replace")
    fields = len(next(csv.reader([last], delimiter=sep), []))
    if last.strip() and fields < header_fields:
        with open(path, "rb") as f:
            line = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        raise DataError(f"{path}: line {line}: the last row has {fields} of the header's {header_fields} "
                        f"fields: the file is cut; {fix}")


def read_table(path: Path, columns: Optional[Sequence[str]], o: Dict[str, Any], text: Sequence[str],
               what: str, recorded: bool = False, role: str = "series") -> pd.DataFrame:
    """Read ``columns`` (None: all) of a CSV / Parquet file; ``text`` columns are read as strings.

    A missing column is a DataError naming the file, the column and the columns it has; a
    CSV whose last row is cut is one too (:func:`check_text_complete`).
    """
    ftype = o["file_type"]
    if ftype == "auto":
        ftype = "parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv"
    if ftype == "parquet":
        with reading(path, what):
            try:
                df = pd.read_parquet(path)
            except ImportError as exc:  # before reading()'s generic optional-package message
                raise DataError(f"{path}: reading Parquet needs pyarrow or fastparquet "
                                f"(`python -m pip install \"stbench[parquet]\"`): {exc}") from None
        df.columns = [str(c) for c in df.columns]
        header = list(df.columns)
    else:
        with reading(path, what):
            with open(path, newline="", encoding="utf-8-sig") as f:
                header = [h.strip() for h in next(csv.reader(f, delimiter=o["sep"]), [])]
        if not header:
            raise DataError(f"{path}: empty file (expected a header row: {what})")
        check_text_complete(path, o["sep"], len(header), recorded, role)
    dup = next((h for i, h in enumerate(header) if h in header[:i]), None)
    if dup is not None:
        raise DataError(f"{path}: column {dup!r} appears twice in the header")
    missing = [c for c in list(columns or []) + list(text) if c not in header]
    if missing:
        raise DataError(f"{path}: no column {missing[0]!r} ({_which(o, missing[0])}); the file has "
                        f"{_preview(header)}")
    if ftype == "parquet":
        df = df[list(columns)] if columns is not None else df
        for c in text:
            df[c] = df[c].astype("string")
        return df.reset_index(drop=True)
    with reading(path, what):
        df = pd.read_csv(path, sep=o["sep"], usecols=list(columns) if columns is not None else None,
                         dtype={c: str for c in text}, skipinitialspace=True, encoding="utf-8-sig")
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _which(o: Dict[str, Any], col: str) -> str:
    for key in ("value_column", "node_column", "time_column"):
        if o.get(key) == col:
            return f"options.{key}"
    if o.get("time_parts") and col in o["time_parts"].values():
        return "options.time_parts"
    return "options.nodes"


def _preview(items: Sequence[Any], k: int = 8) -> str:
    items = list(items)
    return "[" + ", ".join(repr(i) for i in items[:k]) + (f", ... ({len(items)} in all)]" if len(items) > k else "]")


def numeric(col: pd.Series, path: Path, name: str, first_line: int = 2) -> np.ndarray:
    """A column -> float64; a non-numeric cell is a DataError naming the file, line, column and value."""
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        return col.to_numpy(np.float64, na_value=np.nan)
    num = pd.to_numeric(col, errors="coerce")
    bad = num.isna().to_numpy() & col.notna().to_numpy() & (col.astype("string").str.strip() != "").to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{path}: line {i + first_line}: column {name!r}: {col.iloc[i]!r} is not a number "
                        f"(empty = missing)")
    return num.to_numpy(np.float64, na_value=np.nan)


def parse_times(df: pd.DataFrame, o: Dict[str, Any], path: Path) -> np.ndarray:
    """(rows,) datetime64[ns] from time_column (+ time_format) or time_parts; errors name the line."""
    if o["time_parts"] is not None:
        comps = {p: numeric(df[c], path, c) for p, c in o["time_parts"].items()}
        frame = pd.DataFrame({p: v for p, v in comps.items()})
        nan = frame.isna().any(axis=1).to_numpy()
        if nan.any():
            i = int(np.argmax(nan))
            raise DataError(f"{path}: line {i + 2}: a time part is empty ({dict(frame.iloc[i])})")
        with reading(path, "time from options.time_parts"):
            ts = pd.to_datetime(frame.astype(np.int64), errors="coerce")
        raw_cells = frame
    else:
        col = o["time_column"]
        raw_cells = df[col]
        empty = raw_cells.isna().to_numpy()
        if empty.any():
            i = int(np.argmax(empty))
            raise DataError(f"{path}: line {i + 2}: column {col!r} (options.time_column) is empty")
        with reading(path, f"times in column {col!r}"):
            ts = pd.to_datetime(raw_cells, format=o["time_format"], errors="coerce")
    if getattr(ts.dtype, "tz", None) is not None:
        raise DataError(f"{path}: times carry a time zone ({ts.dtype.tz}); give local times without one "
                        f"(time of day and day of week are model inputs)")
    nat = pd.isna(ts)
    nat = nat.to_numpy() if hasattr(nat, "to_numpy") else np.asarray(nat)
    if nat.any():
        i = int(np.argmax(nat))
        cell = dict(raw_cells.iloc[i]) if isinstance(raw_cells, pd.DataFrame) else raw_cells.iloc[i]
        fmt = f" with time_format {o['time_format']!r}" if o.get("time_format") else ""
        raise DataError(f"{path}: line {i + 2}: cannot parse the time {cell!r}{fmt}")
    return to_ns(np.asarray(ts))


def regular_axis(times: Sequence[np.ndarray], ctx: ReadContext, where: Sequence[Path]) -> Tuple[np.ndarray, List[np.ndarray]]:
    """Regular axis t0 + k * step and, per file, each row's step k (see the module docstring)."""
    step = int(round(ctx.step_minutes * 60e9))
    if not any(len(t) for t in times):
        raise DataError(f"{', '.join(map(str, where))}: no data rows")
    first = min(t.min() for t in times if len(t))
    t0 = np.datetime64(ctx.time_start.replace(" ", "T"), "ns") if ctx.time_start else first
    ks, last = [], 0
    for ts, path in zip(times, where):
        off = (ts - t0).astype(np.int64)
        for bad, why in ((off < 0, f"before the first step {t0} (time.start)"),
                         (off % step != 0, f"not on the {ctx.step_minutes:g}-minute grid from {t0} "
                                           f"(time.step_minutes)")):
            if bad.any():
                i = int(np.argmax(bad))
                raise DataError(f"{path}: line {i + 2}: time {ts[i]} is {why}")
        k = off // step
        ks.append(k)
        last = max(last, int(k.max()) if len(k) else 0)
    n = ctx.steps if ctx.steps is not None else last + 1
    for k, ts, path in zip(ks, times, where):
        if len(k) and k.max() >= n:
            i = int(np.argmax(k >= n))
            raise DataError(f"{path}: line {i + 2}: time {ts[i]} is past the last step (time.steps = {n})")
    return t0 + np.arange(n, dtype=np.int64) * np.timedelta64(step, "ns"), ks


def check_no_empty_node(values: np.ndarray, nodes: Sequence[str], ctx: ReadContext, where) -> None:
    """A node without a single reading (every value missing or the null value) is a DataError,
    whatever the graph: it could only be predicted from its neighbours, never scored."""
    valid = np.isfinite(values)
    if ctx.null_value is not None:
        valid &= values != ctx.null_value
    empty = np.nonzero(~valid.any(axis=0))[0] if values.shape[0] else np.arange(values.shape[1])
    if len(empty):
        names = _preview([nodes[i] for i in empty])
        raise DataError(f"{ctx.name} ({where}): {len(empty)} node(s) without a single reading: {names} "
                        f"(every value empty, a missing value or the null value); leave them out with "
                        f"options.nodes / options.drop_columns, or check the file")


def check_step(ks: np.ndarray, n_steps: int, ctx: ReadContext, where: Sequence[Path]) -> None:
    """Warn (DataWarning) when every row lies on a coarser grid than ``time.step_minutes``: the
    declared step is probably wrong (10-minute data declared as 5-minute leaves every other
    step empty)."""
    ks = np.unique(np.asarray(ks, dtype=np.int64))
    if len(ks) < 3:
        return
    g = int(np.gcd.reduce(np.diff(ks)))
    if g > 1:
        import warnings
        step = ctx.step_minutes
        msg = (f"{ctx.name} ({', '.join(map(str, where[:2]))}{' ...' if len(where) > 2 else ''}): every row "
               f"lies on a {g * step:g}-minute grid, but time.step_minutes is {step:g}, so "
               f"{100 * (1 - len(ks) / n_steps):.1f} % of the steps are empty in a regular pattern: the step "
               f"is probably {g * step:g} minutes")
        warnings.warn(DataWarning(msg), stacklevel=2)


def _missing_to_nan(values: np.ndarray, o: Dict[str, Any]) -> np.ndarray:
    for v in o["missing_values"] or ():
        values[values == float(v)] = np.nan
    return values


@FORMATS.register("wide_table")
class WideTable(_TableFormat):
    """One row per step: a time column and one column per node (module docstring)."""

    options = {**_COMMON_OPTIONS, "drop_columns": Option(list, None)}

    def read(self, ctx: ReadContext) -> RawSeries:
        o = ctx.options
        sp = ctx.path("series")
        tcols = self.time_columns(o)
        df = read_table(sp, None, o, text=self.text_columns(o), what="wide table (time + one column per node)",
                        recorded=ctx.recorded("series"))
        for c in tcols:
            if c not in df.columns:
                raise DataError(f"{sp}: no column {c!r} ({_which(o, c)}); the file has {_preview(list(df.columns))}")
        cols = list(df.columns)
        drop = [str(c) for c in o["drop_columns"] or ()]
        for c in drop:
            if c not in cols:
                raise DataError(f"{sp}: no column {c!r} (options.drop_columns); the file has {_preview(cols)}")
        nodes = [str(n) for n in o["nodes"]] if o["nodes"] else [c for c in cols if c not in drop and c not in tcols]
        if not nodes:
            raise DataError(f"{sp}: no node column (every column is a time or dropped column)")
        for c in nodes:
            if c in tcols:
                raise DataError(f"{sp}: options.nodes lists the time column {c!r}")
            if c not in cols:
                raise DataError(f"{sp}: no column {c!r} (options.nodes); the file has {_preview(cols)}")
        vals = np.column_stack([numeric(df[c], sp, c) for c in nodes]) if len(df) else np.zeros((0, len(nodes)))
        vals = _missing_to_nan(vals, o)
        if tcols:
            times = parse_times(df, o, sp)
            axis, (k,) = regular_axis([times], ctx, [sp])
            order = np.argsort(k, kind="stable")
            dup = np.nonzero(np.diff(k[order]) == 0)[0]
            if len(dup):
                a, b = sorted((int(order[dup[0]]), int(order[dup[0] + 1])))
                raise DataError(f"{sp}: duplicate time {times[a]} (lines {a + 2} and {b + 2}); each step must "
                                f"appear once")
            values = np.full((len(axis), len(nodes)), np.nan)
            values[k] = vals
            check_step(k, len(axis), ctx, [sp])
        else:
            values = vals
            axis = ctx.time_axis(len(values))
        check_no_empty_node(values, nodes, ctx, sp)
        adj, rec, gfiles = self.graph_for(ctx, values, nodes, len(axis))
        return ctx.raw(values, adj, axis, [sp, *gfiles], node_ids=nodes, graph=rec,
                       graph_options=dict(ctx.graph), rows_missing=int(len(axis) - len(vals)))


@FORMATS.register("long_table")
class LongTable(_TableFormat):
    """One row per (time, node) reading, one file or several via a glob (module docstring)."""

    options = {**_COMMON_OPTIONS, "node_column": Option(str, "node"),
               "value_column": Option(str, "value", nullable=False)}
    multi_files = ("series",)
    long = True

    def read(self, ctx: ReadContext) -> RawSeries:
        o = ctx.options
        keys = [k for k in ctx.paths if role_of(k) == "series"]
        paths = [ctx.path(k) for k in keys]
        extra = unlisted_matches(ctx.file_specs, ctx.folder, "series") if "series" in ctx.file_specs else []
        if extra:
            raise DataError(f"{ctx.folder / extra[0]}: matches files.series.path "
                            f"{ctx.file_specs['series']['path']!r} but is not listed in files.series.parts "
                            f"(a stray or new file? list it with its sha256, or move it away)")
        tcols = self.time_columns(o)
        ncol, vcol = o["node_column"], o["value_column"]
        cols = list(dict.fromkeys(tcols + ([ncol] if ncol else []) + [vcol]))
        times, node_rows, vals = [], [], []
        for p in paths:
            df = read_table(p, cols, o, text=self.text_columns(o), what="long table (time, node, value)",
                            recorded=ctx.recorded(keys[paths.index(p)]))
            if ncol:
                codes, uniq = pd.factorize(df[ncol])  # strip the few distinct ids, not every row
                if (codes < 0).any():
                    i = int(np.argmax(codes < 0))
                    raise DataError(f"{p}: line {i + 2}: column {ncol!r} (options.node_column) is empty")
                node_rows.append((codes, [str(u).strip() for u in uniq]))
            else:
                node_rows.append((np.zeros(len(df), dtype=np.int64), [p.stem]))
            times.append(parse_times(df, o, p))
            vals.append(_missing_to_nan(numeric(df[vcol], p, vcol), o))
        if o["nodes"]:
            nodes = [str(n) for n in o["nodes"]]
        else:
            nodes = list(dict.fromkeys(n for _, uniq in node_rows for n in uniq))  # first appearance
        pos = {n: i for i, n in enumerate(nodes)}
        axis, ks = regular_axis(times, ctx, paths)
        n_nodes, n_steps = len(nodes), len(axis)
        flat, value, src_file, src_row = [], [], [], []
        for f, (k, (codes, uniq), v) in enumerate(zip(ks, node_rows, vals)):
            idx = np.array([pos.get(u, -1) for u in uniq], dtype=np.int64)[codes]
            keep = idx >= 0  # rows of nodes not in options.nodes are left out
            flat.append(k[keep] * n_nodes + idx[keep])
            value.append(v[keep])
            src_file.append(np.full(int(keep.sum()), f))
            src_row.append(np.nonzero(keep)[0])
        flat, value = np.concatenate(flat), np.concatenate(value)
        src_file, src_row = np.concatenate(src_file), np.concatenate(src_row)
        order = np.argsort(flat, kind="stable")
        dup = np.nonzero(np.diff(flat[order]) == 0)[0]
        if len(dup):
            a, b = order[dup[0]], order[dup[0] + 1]
            step, node = divmod(int(flat[a]), n_nodes)
            raise DataError(f"{ctx.name}: duplicate reading of node {nodes[node]!r} at {axis[step]}: "
                            f"{paths[src_file[a]]} line {src_row[a] + 2} and {paths[src_file[b]]} line "
                            f"{src_row[b] + 2}; each (time, node) must appear once")
        seen = np.zeros(n_nodes, dtype=bool)
        seen[flat % n_nodes] = True
        if not seen.all():
            i = int(np.argmin(seen))
            raise DataError(f"{ctx.name} ({', '.join(map(str, paths[:3]))}{' ...' if len(paths) > 3 else ''}): "
                            f"node {nodes[i]!r} (options.nodes) has no row")
        values = np.full(n_steps * n_nodes, np.nan)
        values[flat] = value
        values = values.reshape(n_steps, n_nodes)
        check_step(np.unique(flat // n_nodes), n_steps, ctx, paths)
        check_no_empty_node(values, nodes, ctx, paths[0] if len(paths) == 1 else ctx.folder)
        adj, rec, gfiles = self.graph_for(ctx, values, nodes, n_steps)
        return ctx.raw(values, adj, axis, [*paths, *gfiles], node_ids=nodes, graph=rec,
                       graph_options=dict(ctx.graph), files_read=len(paths))
