"""Data set specs: every ``configs/datasets/*.yaml`` is a registered data set.

The registry reads ``<repo>/configs/datasets/*.yaml`` and, if set, every directory in
``STBENCH_DATASET_CONFIGS`` (``os.pathsep``-separated; a later file with the same name
overrides an earlier one). Each YAML is read strictly (a duplicate key is an error,
``benchmarks.yamlio``) and validated against the schema below and against its format's
declared files/options/graph keys; an unknown key or a wrong type is a ``SpecError``
naming the file, the key and the valid choices. A broken YAML does not stop the others:
it is left out of ``dataset_names()``, listed by ``broken_datasets()`` with its reason,
and only asking for that data set raises.

YAML schema (``?`` = optional)::

    name: METR-LA                 # canonical name (matched case-insensitively)
    format: dcrnn_h5              # a registered reader (datasets.formats.FORMATS)
    folder?: METR-LA              # under the data root (default: the name)
    description?: str
    files?:                       # role -> file; roles are declared by the format
      series: {path: metr-la.h5, url?: str, size?: int, sha256?: str, source?: str}
                                  # a format's multi-file role may give a glob path and
                                  # parts?: {file name: {size?, sha256?}} (datasets/file_sets.py)
    null_value?: 0                # value that marks a missing reading (default none: NaN only)
    split: [0.7, 0.1, 0.2]        # train / val / test fractions of the windows
    time?: {start?: "2018-01-01 00:00", step_minutes?: 5, steps?: 744}
                                  # start/step required where files carry no timestamps;
                                  # steps: the expected number of time steps (checked on load)
    options?: {...}               # reader options declared by the format
    graph?: {...}                 # graph options declared by the format; a format with its
                                  # own graph also takes {kind: complete | correlation | none}
                                  # to replace it (datasets/graph_options.py)
    citation: str
    license?: str
    notes?: str
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from stbench.yamlio import YamlError, load_yaml_strict

from .file_sets import check_file_roles, expand
from .formats import FORMATS, DataFormat, Option, SpecError

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / "configs" / "datasets"
EXTRA_DIRS_ENV = "STBENCH_DATASET_CONFIGS"
DATA_ENV = "STBENCH_DATA"


def _load_formats() -> None:
    """Import the reader modules so that they register themselves in FORMATS."""
    from . import formats_generic  # noqa: F401  (wide_table, long_table)
    from . import formats_grid, formats_largest, formats_tables, formats_traffic, formats_urbanev, synthetic  # noqa: F401


_FILE_KEYS = {
    "path": Option(str, nullable=False),
    "url": Option(str, None),
    "size": Option(int, None),
    "sha256": Option(str, None),
    "source": Option(str, None),
    "parts": Option(dict, None),  # glob paths only: {file name: {size, sha256}} (datasets/file_sets.py)
}
_TIME_KEYS = {"start": Option(str, None), "step_minutes": Option(float, None), "steps": Option(int, None)}
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
    # ratio (a true zero: MAPE/WAPE meaningful) | interval (temperatures in kelvin: MAPE is not)
    "value_scale": Option(str, "ratio"),
}
VALUE_SCALES = ("ratio", "interval")
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
    _load_formats()  # the readers register themselves on import (also when called directly)
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
    check_file_roles(fmt, spec["files"], where)

    if spec["value_scale"] not in VALUE_SCALES:
        raise SpecError(f"{source}: value_scale must be one of {', '.join(VALUE_SCALES)}, "
                        f"got {spec['value_scale']!r}")
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
    if spec["time"]["steps"] is not None and spec["time"]["steps"] < 1:
        raise SpecError(f"{where}: time.steps: expected a positive integer, got {spec['time']['steps']!r}")
    if spec["time"]["start"] is not None:
        import numpy as np

        try:
            np.datetime64(spec["time"]["start"].replace(" ", "T"), "ns")
        except ValueError:
            raise SpecError(f"{where}: time.start: not a date-time: {spec['time']['start']!r}") from None
    spec["options"] = _check_mapping(spec["options"], fmt.options, where, "options.")
    from .graph_options import check_graph_spec, graph_schema  # the graph: block (any format)

    spec["graph"] = _check_mapping(spec["graph"], graph_schema(fmt, spec["graph"]), where, "graph.")
    check_graph_spec(fmt, spec, where)
    fmt.check_spec(spec, where)
    spec["_source"] = str(source)
    return spec


def config_dirs() -> List[Path]:
    dirs = [CONFIG_DIR]
    extra = os.environ.get(EXTRA_DIRS_ENV, "")
    dirs += [Path(p).expanduser() for p in extra.split(os.pathsep) if p.strip()]
    return dirs


_CACHE: Dict[tuple, Tuple[Dict[str, Dict[str, Any]], Dict[str, str]]] = {}

#: how to register a directory of data-set YAMLs (for the unknown-data-set message)
REGISTER_HINT = (f"to add data sets, put their YAMLs in a directory and set {EXTRA_DIRS_ENV}=DIR "
                 f"(or pass --dataset-config DIR); see docs/datasets.md")


def _yaml_paths() -> List[Path]:
    paths: List[Path] = []
    for d in config_dirs():
        if d.is_dir():
            paths += sorted(p for p in d.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        elif d != CONFIG_DIR:
            raise SpecError(f"{EXTRA_DIRS_ENV}: {d} is not a directory (expected a directory of "
                            f"data-set YAML files)")
    return paths


def _one_line(msg: str) -> str:
    return " | ".join(ln.strip() for ln in str(msg).splitlines() if ln.strip())


def _read_one(path: Path) -> Tuple[str, Optional[Dict[str, Any]], Optional[str]]:
    """(canonical name, spec or None, reason or None) for one YAML file; never raises."""
    name = path.stem.upper()
    try:
        raw = load_yaml_strict(path)
    except YamlError as exc:
        return name, None, _one_line(exc)
    if isinstance(raw.get("name"), str) and raw["name"].strip():
        name = raw["name"].strip().upper()
    try:
        spec = validate_spec(raw, path)
    except SpecError as exc:
        return name, None, _one_line(exc)
    return spec["name"], spec, None


def _load_all() -> Tuple[Dict[str, Dict[str, Any]], Dict[str, str]]:
    """({NAME: spec} of the valid YAMLs, {NAME: reason} of the broken ones), cached per
    set of files, sizes and mtimes. A later file with the same name replaces an earlier
    one, whether valid or broken."""
    _load_formats()
    paths = _yaml_paths()
    key = tuple((str(p), st.st_size, st.st_mtime_ns) for p in paths for st in (p.stat(),))
    if key not in _CACHE:
        specs: Dict[str, Dict[str, Any]] = {}
        broken: Dict[str, str] = {}
        for p in paths:
            name, spec, reason = _read_one(p)
            if spec is not None:
                specs[name] = spec
                broken.pop(name, None)
            else:
                broken[name] = reason or f"{p}: invalid data set YAML"
                specs.pop(name, None)
        _CACHE.clear()
        _CACHE[key] = (specs, broken)
    return _CACHE[key]


def load_specs() -> Dict[str, Dict[str, Any]]:
    """{CANONICAL NAME: spec} for every valid YAML found (broken ones: ``broken_datasets()``)."""
    return _load_all()[0]


def broken_datasets() -> Dict[str, str]:
    """{NAME: one-line reason} for every data-set YAML that cannot be used (invalid YAML,
    duplicate key, schema error). These names are not in ``dataset_names()``; asking for
    one (``dataset_spec``, ``load_raw``) raises ``SpecError`` with the reason."""
    return dict(_load_all()[1])


def dataset_names() -> List[str]:
    """Canonical (upper-case) names of every usable registered data set, sorted."""
    return sorted(load_specs())


class UnknownDataset(SpecError, KeyError):
    """No data-set YAML has this name (a KeyError for old callers, a DataError for new ones)."""

    __str__ = BaseException.__str__  # no quotes around the message (KeyError adds them)


def dataset_spec(name: str) -> Dict[str, Any]:
    """The validated YAML of data set ``name`` (case-insensitive), as a fresh copy.

    A broken YAML raises ``SpecError`` with its reason; an unknown name raises
    ``UnknownDataset`` (a ``KeyError`` and a ``SpecError``) listing the valid choices and
    how to register more.
    """
    specs, broken = _load_all()
    key = str(name).upper()
    if key in specs:
        return copy.deepcopy(specs[key])
    if key in broken:
        raise SpecError(f"data set {key} is broken: {broken[key]}")
    raise UnknownDataset(f"unknown data set {name!r}; valid choices: {', '.join(sorted(specs))}"
                         + (f" (broken: {', '.join(sorted(broken))})" if broken else "")
                         + f"; {REGISTER_HINT}")


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
    return spec_files(dataset_spec(name), data_root)


def spec_files(spec: Dict[str, Any], data_root: Optional[str | os.PathLike] = None) -> Dict[str, Path]:
    """``dataset_files`` of a validated spec; a glob role gives one ``role[file]`` key per file."""
    return expand(spec["files"], resolve_data_root(data_root) / spec["folder"])


def dataset_present(name: str, root: Optional[str | os.PathLike] = None) -> bool:
    """True when every file the data set declares exists under ``root`` (always for SYNTHETIC)."""
    return all(p.is_file() for p in dataset_files(name, root).values())
