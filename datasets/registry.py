"""Data set specs: every ``configs/datasets/*.yaml`` is a registered data set.

The registry reads ``<repo>/configs/datasets/*.yaml`` and, if set, every directory in
``STBENCH_DATASET_CONFIGS`` (``os.pathsep``-separated; a later file with the same name
overrides an earlier one). Each YAML is validated against the schema below and against
its format's declared files/options/graph keys; an unknown key or a wrong type raises a
``SpecError`` naming the file, the key and the valid choices.

YAML schema (``?`` = optional)::

    name: METR-LA                 # canonical name (matched case-insensitively)
    format: dcrnn_h5              # a registered reader (datasets.formats.FORMATS)
    folder?: METR-LA              # under the data root (default: the name)
    description?: str
    files?:                       # role -> file; roles are declared by the format
      series: {path: metr-la.h5, url?: str, size?: int, sha256?: str, source?: str}
    null_value?: 0                # value that marks a missing reading (default none: NaN only)
    split: [0.7, 0.1, 0.2]        # train / val / test fractions of the windows
    time?: {start?: "2018-01-01 00:00", step_minutes?: 5}   # required where files carry no timestamps
    options?: {...}               # reader options declared by the format
    graph?: {...}                 # graph options declared by the format
    citation: str
    license?: str
    notes?: str
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

from .formats import FORMATS, DataFormat, Option, SpecError

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / "configs" / "datasets"
EXTRA_DIRS_ENV = "STBENCH_DATASET_CONFIGS"
DATA_ENV = "STBENCH_DATA"


def _load_formats() -> None:
    """Import the reader modules so that they register themselves in FORMATS."""
    from . import formats_grid, formats_tables, formats_traffic, synthetic  # noqa: F401


_FILE_KEYS = {
    "path": Option(str, nullable=False),
    "url": Option(str, None),
    "size": Option(int, None),
    "sha256": Option(str, None),
    "source": Option(str, None),
}
_TIME_KEYS = {"start": Option(str, None), "step_minutes": Option(float, None)}
_TOP_KEYS: Dict[str, Option] = {
    "name": Option(str, nullable=False),
    "format": Option(str, nullable=False),
    "folder": Option(str, None),
    "description": Option(str, ""),
    "files": Option(dict, None),
    "null_value": Option(float, None),
    "split": Option(list, nullable=False),
    "time": Option(dict, None),
    "options": Option(dict, None),
    "graph": Option(dict, None),
    "citation": Option(str, nullable=False),
    "license": Option(str, None),
    "notes": Option(str, None),
}
_REQUIRED_TOP = ("name", "format", "split", "citation")


def _check_mapping(data: Any, schema: Dict[str, Option], source: str, prefix: str = "") -> Dict[str, Any]:
    """Check keys and types of ``data`` (the YAML's ``prefix`` mapping) against ``schema``; fill defaults."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(f"{source}: {prefix.rstrip('.') or '(top level)'}: expected a mapping, got {data!r}")
    unknown = sorted(set(map(str, data)) - set(schema))
    if unknown:
        raise SpecError(f"{source}: unknown key {prefix + unknown[0]!r}; valid keys"
                        f"{' under ' + prefix.rstrip('.') if prefix else ''}: {', '.join(sorted(schema)) or '(none)'}")
    return {k: opt.check(data.get(k, copy.deepcopy(opt.default)), f"{source}: {prefix}{k}")
            for k, opt in schema.items()}


def validate_spec(raw: Any, source: Path) -> Dict[str, Any]:
    """Validate one parsed YAML; return the normalised spec (defaults filled in)."""
    where = str(source)
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: a data set YAML must be a mapping, got {type(raw).__name__}")
    for key in _REQUIRED_TOP:
        if key not in raw:
            raise SpecError(f"{where}: missing required key {key!r}")
    spec = _check_mapping(raw, _TOP_KEYS, where)
    spec["name"] = spec["name"].upper()
    try:
        fmt: DataFormat = FORMATS.get(spec["format"])
    except KeyError:
        raise SpecError(f"{where}: format: unknown data format {spec['format']!r}; valid choices: "
                        f"{', '.join(FORMATS.names())}") from None
    spec["format"] = spec["format"].lower()
    spec["folder"] = spec["folder"] or spec["name"]

    files = spec["files"] or {}
    unknown = sorted(set(files) - set(fmt.files))
    if unknown:
        raise SpecError(f"{where}: files: unknown file role {unknown[0]!r} for format {spec['format']}; "
                        f"valid roles: {', '.join(sorted(fmt.files)) or '(none)'}")
    for role, required in fmt.files.items():
        if required and role not in files:
            raise SpecError(f"{where}: files: format {spec['format']} needs a {role!r} file")
    spec["files"] = {role: _check_mapping(files[role], _FILE_KEYS, where, f"files.{role}.")
                     for role in fmt.files if role in files}  # in the format's declared order
    for role, f in spec["files"].items():
        if f["sha256"] is not None and (len(f["sha256"]) != 64 or any(c not in "0123456789abcdef" for c in f["sha256"].lower())):
            raise SpecError(f"{where}: files.{role}.sha256 must be 64 hex digits, got {f['sha256']!r}")

    split = spec["split"]
    if len(split) != 3 or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in split) \
            or abs(sum(split) - 1.0) > 1e-6 or min(split) < 0:
        raise SpecError(f"{where}: split: expected three non-negative numbers summing to 1 "
                        f"(train, val, test), got {split!r}")
    spec["split"] = [float(x) for x in split]
    spec["time"] = _check_mapping(spec["time"], _TIME_KEYS, where, "time.")
    if fmt.needs_time and not (spec["time"]["start"] and spec["time"]["step_minutes"]):
        raise SpecError(f"{where}: time: format {spec['format']} has no timestamps in its files; "
                        f"give time: {{start: 'YYYY-MM-DD HH:MM', step_minutes: N}}")
    if spec["time"]["start"] is not None:
        import numpy as np

        try:
            np.datetime64(spec["time"]["start"].replace(" ", "T"), "ns")
        except ValueError:
            raise SpecError(f"{where}: time.start: not a date-time: {spec['time']['start']!r}") from None
    spec["options"] = _check_mapping(spec["options"], fmt.options, where, "options.")
    spec["graph"] = _check_mapping(spec["graph"], fmt.graph, where, "graph.")
    spec["_source"] = str(source)
    return spec


def config_dirs() -> List[Path]:
    dirs = [CONFIG_DIR]
    extra = os.environ.get(EXTRA_DIRS_ENV, "")
    dirs += [Path(p).expanduser() for p in extra.split(os.pathsep) if p.strip()]
    return dirs


_CACHE: Dict[tuple, Dict[str, Dict[str, Any]]] = {}


def load_specs() -> Dict[str, Dict[str, Any]]:
    """{CANONICAL NAME: spec} for every YAML found (cached per set of files and mtimes)."""
    _load_formats()
    paths: List[Path] = []
    for d in config_dirs():
        if d.is_dir():
            paths += sorted(p for p in d.iterdir() if p.suffix in (".yaml", ".yml"))
        elif d != CONFIG_DIR:
            raise SpecError(f"{EXTRA_DIRS_ENV}: {d} is not a directory")
    key = tuple((str(p), p.stat().st_mtime_ns) for p in paths)
    if key not in _CACHE:
        specs: Dict[str, Dict[str, Any]] = {}
        for p in paths:
            try:
                raw = yaml.safe_load(p.read_text())
            except yaml.YAMLError as exc:
                raise SpecError(f"{p}: invalid YAML: {exc}") from exc
            spec = validate_spec(raw, p)
            specs[spec["name"]] = spec
        _CACHE.clear()
        _CACHE[key] = specs
    return _CACHE[key]


def dataset_names() -> List[str]:
    """Canonical (upper-case) names of every registered data set, sorted."""
    return sorted(load_specs())


def dataset_spec(name: str) -> Dict[str, Any]:
    """The validated YAML of data set ``name`` (case-insensitive), as a fresh copy."""
    specs = load_specs()
    key = str(name).upper()
    if key not in specs:
        raise KeyError(f"unknown data set {name!r}; valid choices: {', '.join(sorted(specs))}")
    return copy.deepcopy(specs[key])


def data_format(spec: Dict[str, Any]) -> DataFormat:
    return FORMATS.get(spec["format"])()


def resolve_data_root(cli: Optional[str | os.PathLike] = None) -> Path:
    """Data root: the CLI flag, else $STBENCH_DATA, else ./data (relative to the working directory)."""
    if cli:
        return Path(cli).expanduser()
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path("data")


def dataset_files(name: str, data_root: Optional[str | os.PathLike] = None) -> Dict[str, Path]:
    """{role: absolute expected path} of a data set's files under the data root."""
    spec = dataset_spec(name)
    folder = resolve_data_root(data_root) / spec["folder"]
    return {role: folder / f["path"] for role, f in spec["files"].items()}


def dataset_present(name: str, root: Optional[str | os.PathLike] = None) -> bool:
    """True when every file the data set declares exists under ``root`` (always for SYNTHETIC)."""
    return all(p.is_file() for p in dataset_files(name, root).values())
