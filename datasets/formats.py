"""The reader interface: a ``FORMATS`` registry of file formats and the helpers they share.

A data set's YAML names a ``format``; the format class declares

* ``files``: the file roles it reads (``{"series": True, "ids": False}``: role -> required),
* ``options`` / ``graph``: the keys it accepts under ``options:`` / ``graph:`` in the YAML
  (each an :class:`Option` with a type, default and, where finite, the valid choices),
* ``needs_time``: True when the file carries no timestamps, so the YAML must give
  ``time: {start, step_minutes}``,

and implements ``read(ctx) -> RawSeries``. Every problem is raised as one ``DataError``
naming the file. The readers live in ``formats_traffic.py``, ``formats_tables.py``,
``formats_grid.py`` and ``synthetic.py``, the generic ``wide_table`` / ``long_table`` in
``formats_generic.py`` (with the ``graph:`` block of ``graph_options.py``); adding a data set
in a known format is a YAML file only (see docs/datasets.md, docs/own_data.md).
"""
from __future__ import annotations

import contextlib
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Sequence

import numpy as np

from stbench.registry import Registry

from .base import DataError, RawSeries

FORMATS: Registry[type] = Registry("data format")

class SpecError(DataError):
    """A data set YAML is invalid; the message names the file and the key."""


_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "list", dict: "mapping"}


@dataclass(frozen=True)
class Option:
    """One YAML key a format accepts: its type, default and (optionally) valid choices."""

    kind: type
    default: Any = None
    choices: Optional[Sequence[Any]] = None
    nullable: bool = True
    doc: str = ""

    def check(self, value: Any, where: str) -> Any:
        """Return ``value`` (ints accepted for floats) or raise SpecError naming ``where``."""
        if value is None:
            if not self.nullable:
                raise SpecError(f"{where}: must not be null (expected a {_TYPE_NAMES[self.kind]})")
            return None
        ok = isinstance(value, self.kind) and not (self.kind is not bool and isinstance(value, bool))
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise SpecError(f"{where}: expected a {_TYPE_NAMES[self.kind]}, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise SpecError(f"{where}: {value!r} is not a valid choice; valid choices: "
                            f"{', '.join(map(str, self.choices))}")
        return value


class DataFormat:
    """Base class of a registered reader (see the module docstring)."""

    files: Dict[str, bool] = {}
    options: Dict[str, Option] = {}
    graph: Dict[str, Option] = {}
    needs_time: bool = False
    #: file roles whose ``path`` may be a glob (several files, e.g. one per station; see
    #: datasets/file_sets.py); the reader gets one path per matched file
    multi_files: tuple = ()

    @classmethod
    def check_spec(cls, spec: Dict[str, Any], where: str) -> None:
        """Cross-key rules of this format's YAML (after the per-key checks); raise SpecError."""

    def read(self, ctx: "ReadContext") -> RawSeries:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class ReadContext:
    """What a reader gets: resolved paths, checked options and the data set's settings."""

    name: str
    folder: Path
    paths: Dict[str, Path]
    options: Dict[str, Any]
    graph: Dict[str, Any]
    null_value: Optional[float]
    time_start: Optional[str] = None
    step_minutes: Optional[float] = None
    file_specs: Dict[str, dict] = field(default_factory=dict)
    data_root: Optional[Path] = None
    steps: Optional[int] = None  # time.steps: the expected number of time steps, when given
    split: Optional[Sequence[float]] = None  # the YAML's split (graphs fitted on the training part)

    def recorded(self, role: str) -> bool:
        """True when the YAML records the size or the sha256 of file ``role`` (checked on load)."""
        f = self.file_specs.get(role) or {}
        return f.get("size") is not None or bool(f.get("sha256"))

    def path(self, role: str) -> Path:
        """The path of file ``role``; a DataError naming the exact path and its source if missing."""
        p = self.paths[role]
        if not p.is_file():
            raise DataError(missing_file_message(self.name, p, self.file_specs.get(role, {}), self.data_root))
        return p

    def has(self, role: str) -> bool:
        return role in self.paths

    def time_axis(self, num_steps: int) -> np.ndarray:
        """(T,) datetime64[ns] from the YAML's ``time.start`` and ``time.step_minutes``."""
        if self.time_start is None or not self.step_minutes:
            raise DataError(f"{self.name}: the files carry no timestamps; the data set's YAML must "
                            f"give time: {{start: ..., step_minutes: ...}}")
        start = np.datetime64(self.time_start, "ns")
        step = np.timedelta64(int(round(self.step_minutes * 60)), "s").astype("timedelta64[ns]")
        return start + step * np.arange(num_steps)

    def raw(self, values: np.ndarray, adj: np.ndarray, timestamps: np.ndarray, files: Sequence[Path],
            node_ids: Optional[list] = None, **extra) -> RawSeries:
        """Build and validate the RawSeries (values float32, adjacency float32)."""
        raw = RawSeries(name=self.name, values=np.asarray(values, dtype=np.float32),
                        adj=np.asarray(adj, dtype=np.float32), timestamps=np.asarray(timestamps),
                        null_value=self.null_value, files=list(files), node_ids=node_ids, extra=extra)
        src = ", ".join(str(f) for f in files) or "generated"
        raw.validate(src)
        check_regular(raw.timestamps, src, self.name)
        if self.step_minutes and raw.num_steps > 1 and abs(raw.step_minutes - self.step_minutes) > 1e-6:
            raise DataError(f"{self.name} ({src}): step is {raw.step_minutes:g} min in the file but "
                            f"{self.step_minutes:g} min in the data set's YAML")
        if self.steps is not None and raw.num_steps != self.steps:
            raise DataError(f"{self.name} ({src}): {raw.num_steps} time steps in the file, expected "
                            f"{self.steps} (time.steps in the data set's YAML); the file is truncated "
                            f"or a different version")
        return raw


def missing_file_message(name: str, path: Path, spec: dict, data_root: Optional[Path] = None) -> str:
    """'NAME: missing file PATH; run `python run_benchmark.py data download NAME`' (or the source)."""
    msg = f"{name}: missing file {path}"
    if any(c in path.name for c in "*?["):
        msg = f"{name}: no file matches {path}"
    if spec.get("url"):
        root = f" --data-root {data_root}" if data_root is not None else ""
        msg += (f"; run `python run_benchmark.py data download {name}{root}` "
                f"or fetch {spec['url']}")
    elif spec.get("source"):
        msg += f"; it is not downloadable automatically: get it from {spec['source']} and put it there"
    return msg


def missing_files_error(name: str, paths: Dict[str, Path], file_specs: Dict[str, dict],
                        data_root: Optional[Path] = None) -> Optional[DataError]:
    """One DataError (one line) naming every missing file of ``paths``, or None if all exist."""
    missing = [missing_file_message(name, p, file_specs.get(role, {}), data_root)
               for role, p in paths.items() if not p.is_file()]
    return DataError(" | ".join(missing)) if missing else None


_READ_ERRORS: tuple = (OSError, ValueError, KeyError, IndexError, TypeError, EOFError, AttributeError,
                       pickle.UnpicklingError, zipfile.BadZipFile, UnicodeDecodeError)


@contextlib.contextmanager
def reading(path: Path, what: str) -> Iterator[None]:
    """Re-raise any library error while reading ``path`` as one DataError naming the file."""
    try:
        yield
    except DataError:
        raise
    except ImportError as exc:  # an optional reader (h5py, tables, xarray, netCDF4, cfgrib, ...) missing
        raise DataError(f"{path}: reading {what} needs {exc.name or 'an optional package'} "
                        f"({_short(exc, 1)}): python -m pip install \"stbench[formats]\"") from None
    except _READ_ERRORS + _extra_read_errors() as exc:
        raise DataError(f"{path}: cannot read {what} (corrupt, truncated or not in the expected "
                        f"layout): {type(exc).__name__}: {_short(exc)}") from exc


def _short(exc: BaseException, keep: int = 2) -> str:
    """A library message in at most ``keep`` lines (HDF5 prints whole back traces)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith('File "') and "back trace" not in ln] or lines
    return " | ".join(lines[-keep:])


def _extra_read_errors() -> tuple:
    errs = []
    try:
        import tables
        errs.append(tables.exceptions.HDF5ExtError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errs)


def check_regular(timestamps: np.ndarray, source: str, name: str) -> None:
    """Timestamps must be strictly increasing with one constant step."""
    ts = np.asarray(timestamps)
    if not np.issubdtype(ts.dtype, np.datetime64):
        raise DataError(f"{name} ({source}): timestamps must be datetimes, got dtype {ts.dtype}")
    if len(ts) < 2:
        return
    d = np.diff(ts.astype("datetime64[ns]").astype(np.int64))
    if (d <= 0).any():
        i = int(np.argmax(d <= 0))
        raise DataError(f"{name} ({source}): timestamps are not strictly increasing at row {i + 1} "
                        f"({ts[i]} -> {ts[i + 1]})")
    if (d != d[0]).any():
        i = int(np.argmax(d != d[0]))
        raise DataError(f"{name} ({source}): irregular time step at row {i + 1} ({ts[i]} -> {ts[i + 1]}; "
                        f"expected a constant {d[0] / 6e10:g}-minute step); gaps must be rows of NaN")


def to_ns(timestamps) -> np.ndarray:
    """Any datetime-like array -> datetime64[ns] (pandas 3 may give [us])."""
    return np.asarray(timestamps).astype("datetime64[ns]")


def check_rank(arr: np.ndarray, rank: int, path: Path, what: str) -> None:
    if arr.ndim != rank:
        raise DataError(f"{path}: {what} must have {rank} dimensions, got shape {arr.shape}")


def check_adjacency(adj: np.ndarray, path: Path) -> np.ndarray:
    """Square, finite graph matrix, else DataError naming ``path``."""
    adj = np.asarray(adj)
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        raise DataError(f"{path}: graph must be a square (N, N) matrix, got shape {adj.shape}")
    if not np.issubdtype(adj.dtype, np.number):
        raise DataError(f"{path}: graph must be numeric, got dtype {adj.dtype}")
    if not np.all(np.isfinite(adj)):
        bad = np.argwhere(~np.isfinite(adj))[0]
        raise DataError(f"{path}: graph contains NaN or inf (first at row {bad[0]}, column {bad[1]})")
    return adj.astype(np.float32)


def check_nodes(n_series: int, n_graph: int, series_path: Path, graph_path: Path) -> None:
    if n_series != n_graph:
        raise DataError(f"{graph_path}: graph has {n_graph} nodes but the series in {series_path} "
                        f"has {n_series}")
