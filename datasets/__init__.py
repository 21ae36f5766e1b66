"""The data layer: registered data sets (configs/datasets/*.yaml), readers and the protocol.

Public entry points::

    load_raw(name, data_root=None) -> RawSeries
    load_spec(spec, data_root=None) -> RawSeries   (a validated YAML, registered or not)
    load_windowed(name, data_root=None, in_steps=12, out_steps=12, split=None,
                  max_steps=None, scaler_ignore_null=False, train_fraction=1.0) -> WindowedData
    dataset_names(), broken_datasets(), dataset_spec(name), resolve_data_root(cli=None),
    dataset_present(name, root), file_sha256(path)
    dataset_identity(name, data_root=None) -> {"spec": ..., "files": {rel path: sha256}}
    identity_digest(identity) -> sha256 hex of its canonical JSON

Names are canonical upper-case (METR-LA, PEMS04, ...) and matched case-insensitively.
The data root is the CLI flag, else $STBENCH_DATA, else ./data; a data set's files live
in ``<root>/<folder>/`` as named by its YAML.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence

from .base import DataError, DatasetMeta, RawSeries
from .download import file_sha256
from .formats import FORMATS, ReadContext, missing_files_error
from .protocol import WindowedData
from .identity import dataset_identity, identity_digest
from .registry import (SpecError, UnknownDataset, broken_datasets, data_format, dataset_files,
                       dataset_names, dataset_present, dataset_spec, resolve_data_root)

__all__ = [
    "DataError", "DatasetMeta", "RawSeries", "SpecError", "WindowedData", "FORMATS",
    "load_raw", "load_spec", "load_windowed", "dataset_names", "dataset_spec", "dataset_files",
    "resolve_data_root", "dataset_present", "file_sha256", "broken_datasets", "UnknownDataset",
    "dataset_identity", "identity_digest",
]


def _verify_checksums(name: str, spec: dict, ctx: ReadContext) -> None:
    """Files must have the YAML's size and sha256 where given (hashes cached by path+mtime+size)."""
    for role, path in ctx.paths.items():
        size = ctx.file_specs[role]["size"]
        if size is not None and path.stat().st_size != size:
            raise DataError(f"{name}: size mismatch for {path}: {path.stat().st_size} bytes, expected "
                            f"{size} (truncated or a different version; run "
                            f"`python run_benchmark.py data download {name} --force`)")
        want = ctx.file_specs[role]["sha256"]
        if want and path.is_file() and file_sha256(path) != want.lower():
            raise DataError(f"{name}: checksum mismatch for {path}: sha256 {file_sha256(path)}, "
                            f"expected {want.lower()} (corrupt or a different version; run "
                            f"`python run_benchmark.py data download {name} --force`)")


def load_raw(name: str, data_root: Optional[str | os.PathLike] = None) -> RawSeries:
    """Read data set ``name`` from ``<data_root>/<folder>/`` exactly as published."""
    return load_spec(dataset_spec(name), data_root)


def load_spec(spec: dict, data_root: Optional[str | os.PathLike] = None) -> RawSeries:
    """``load_raw`` of a validated spec (``registry.validate_spec``), registered or not."""
    from .file_sets import expanded_specs
    from .graph_options import apply_override
    from .registry import spec_files

    fmt = data_format(spec)
    paths = spec_files(spec, data_root)
    file_specs = expanded_specs(spec, paths)  # a glob role's files get their own (path, size, sha256)
    ctx = ReadContext(name=spec["name"], folder=resolve_data_root(data_root) / spec["folder"],
                      paths=paths, options=spec["options"], graph=spec["graph"],
                      null_value=spec["null_value"], time_start=spec["time"]["start"],
                      step_minutes=spec["time"]["step_minutes"], file_specs=file_specs,
                      data_root=resolve_data_root(data_root), steps=spec["time"]["steps"],
                      split=spec["split"])
    missing = missing_files_error(spec["name"], paths, file_specs, ctx.data_root)
    if missing is not None:  # one error naming every missing file, its exact path and how to get it
        raise missing
    _verify_checksums(spec["name"], spec, ctx)
    return apply_override(fmt, spec, fmt.read(ctx))


def truncate(raw: RawSeries, max_steps: Optional[int]) -> RawSeries:
    """Keep only the first ``max_steps`` steps (smoke / cpu profiles); None keeps all."""
    if max_steps is None or max_steps >= raw.num_steps:
        return raw
    if max_steps < 1:
        raise DataError(f"{raw.name}: max_steps must be positive, got {max_steps}")
    raw.values = raw.values[:max_steps]
    raw.timestamps = raw.timestamps[:max_steps]
    # explicit windows (LargeST's idx files) do not fit a cut series: the ratio split applies
    raw.extra = {**{k: v for k, v in raw.extra.items() if k != "split_anchors"}, "truncated_to": int(max_steps)}
    return raw


def load_windowed(name: str, data_root: Optional[str | os.PathLike] = None, in_steps: int = 12,
                  out_steps: int = 12, split: Optional[Sequence[float]] = None,
                  max_steps: Optional[int] = None, scaler_ignore_null: bool = False,
                  train_fraction: float = 1.0) -> WindowedData:
    """``load_raw`` + the protocol (split None = the data set's YAML default; ``train_fraction``
    < 1 keeps the last part of the training windows, ``protocol.keep_last_fraction``)."""
    raw = truncate(load_raw(name, data_root), max_steps)
    if split is not None and "split_anchors" in raw.extra:
        raise DataError(f"{raw.name}: its windows come from its index files (explicit split); "
                        f"dataset.split {list(split)} cannot override them (leave it null)")
    ratios = list(split) if split is not None else dataset_spec(name)["split"]
    from .graph_options import refit_for_protocol  # a correlation graph sees this run's training span only

    raw = refit_for_protocol(raw, in_steps, out_steps, ratios)
    return WindowedData(raw, in_steps=in_steps, out_steps=out_steps, split=ratios,
                        scaler_ignore_null=scaler_ignore_null, train_fraction=train_fraction)
