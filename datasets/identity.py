"""What a data set *is*, for a run's identity: its resolved spec and the sha256 of its files.

``dataset_identity(name, data_root)`` returns::

    {"spec":  {...},                          # the YAML after defaults (see below)
     "files": {"LOS-LOOP/los_speed.csv": "<sha256 hex>", ...}}

* ``spec`` is the validated YAML (defaults filled in) minus what cannot change the data
  that is read: documentation (``description``, ``citation``, ``license``, ``notes``),
  where a file comes from (``files.*.url`` / ``source``), the recorded ``size`` /
  ``sha256`` (the bytes are hashed instead) and the machine-specific path of the YAML.
  So a changed graph threshold, split, null value, option or file name changes it; a
  reworded citation does not.
* ``files`` maps every file the loader reads, by its path relative to the data root
  (``<folder>/<path>``, POSIX separators; the file name for a file outside the data
  root), to the sha256 of its bytes. A data set generated in code (SYNTHETIC) has none:
  its spec alone is its identity.

Nothing is parsed: the files are only hashed, and each hash is cached by (absolute path,
size, mtime_ns) in ``${XDG_CACHE_HOME:-~/.cache}/stbench/sha256.json``
(``datasets.download.file_sha256``), so an unchanged large file is not read again on the
next start. A missing file raises the loader's own ``DataError``.

``identity_digest(identity)`` is the sha256 of its canonical JSON (sorted keys, no spaces).
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Dict, Optional

from .download import file_sha256
from .formats import missing_files_error
from .registry import dataset_files, dataset_spec, resolve_data_root

__all__ = ["dataset_identity", "identity_digest", "identity_spec", "DOC_ONLY_KEYS", "FILE_DOC_KEYS"]

#: top-level keys that describe a data set but never change what is read
DOC_ONLY_KEYS = ("description", "citation", "license", "notes")
#: per-file keys that say where a file comes from or what it should hash to, not what it holds
FILE_DOC_KEYS = ("url", "source", "size", "sha256", "parts")  # parts: a glob's per-file size/sha256


def identity_spec(spec: Dict[str, Any]) -> Dict[str, Any]:
    """The part of a validated spec that decides the data read (plain JSON types)."""
    out = {k: copy.deepcopy(v) for k, v in spec.items() if not k.startswith("_") and k not in DOC_ONLY_KEYS}
    out["files"] = {role: {k: v for k, v in f.items() if k not in FILE_DOC_KEYS}
                    for role, f in (spec.get("files") or {}).items()}
    return json.loads(json.dumps(out, sort_keys=True))  # fail here, not in the caller, if not JSON-able


def _relative_name(path: Path, root: Path) -> str:
    """The file's path relative to the data root (POSIX), or its name if it lies outside."""
    try:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    except ValueError:  # another drive (Windows)
        return path.name
    return path.name if rel == ".." or rel.startswith(".." + os.sep) else Path(rel).as_posix()


def dataset_identity(name: str, data_root: Optional[str | os.PathLike] = None) -> Dict[str, Any]:
    """{"spec": resolved spec, "files": {relative path: sha256}} of data set ``name``.

    ``data_root`` as for ``load_raw`` (the CLI flag, else $STBENCH_DATA, else ./data).
    Raises ``SpecError`` for an unknown or broken data set and ``DataError`` (the
    loader's message) when a file is missing.
    """
    spec = dataset_spec(name)
    root = resolve_data_root(data_root)
    paths = dataset_files(spec["name"], data_root)
    missing = missing_files_error(spec["name"], paths, spec["files"], root)
    if missing is not None:
        raise missing
    files: Dict[str, str] = {}
    for path in paths.values():
        files[_relative_name(path, root)] = file_sha256(path)
    return {"spec": identity_spec(spec), "files": dict(sorted(files.items()))}


def identity_digest(identity: Dict[str, Any]) -> str:
    """sha256 hex of ``identity`` as canonical JSON (sorted keys, compact separators)."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
