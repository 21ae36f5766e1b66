"""File roles that hold several files: a glob ``path`` plus, optionally, each file's checksums.

A format lists such roles in ``DataFormat.multi_files`` (``long_table``: ``series``, e.g.
one CSV per station). In the YAML the role's ``path`` is a glob (``*``, ``?``, ``[...]``,
matched inside the data set's folder, not recursively) and ``parts`` may name every
expected file with its size and sha256::

    files:
      series:
        path: "PRSA_Data_*_20130301-20170228.csv"
        parts:
          PRSA_Data_Aotizhongxin_20130301-20170228.csv: {size: 2835916, sha256: a94f...}
          ...

With ``parts`` the data set is exactly those files: a missing one is a missing file
(named), a file that matches the glob but is not listed is an error, and each file's
size and sha256 are checked on load like a single file's. Without ``parts`` the data
set is every file that matches, in sorted order; no match is a missing-file error naming
the pattern.

Expanded, a glob role gives one entry per file, keyed ``role[file name]``
(``series[PRSA_Data_Aotizhongxin_20130301-20170228.csv]``), so everything that walks a
data set's files (presence, checksums, ``data verify``, the data identity) sees each file
once. ``file_entry(spec, key)`` returns the per-file entry (path, size, sha256, source) of
such a key; ``role_of(key)`` its role.
"""
from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any, Dict

from .formats import Option, SpecError

GLOB_CHARS = "*?["
_PART_KEYS = {"size": Option(int, None), "sha256": Option(str, None)}


def is_glob(path: str) -> bool:
    return any(c in str(path) for c in GLOB_CHARS)


def role_of(key: str) -> str:
    """``series[file.csv]`` -> ``series``; a plain role is returned as it is."""
    return key.split("[", 1)[0]


def check_file_roles(fmt, files: Dict[str, dict], where: str) -> None:
    """Glob paths only for the format's ``multi_files`` roles; ``parts`` only with a glob.

    A glob role takes no ``url``, ``size`` or ``sha256`` of its own (one URL or hash
    cannot describe several files); its ``parts`` map file names that match the glob to
    ``{size, sha256}``. Raises SpecError naming the file, key and what was expected.
    """
    for role, f in files.items():
        glob, parts = is_glob(f["path"]), f.get("parts")
        if glob and role not in fmt.multi_files:
            raise SpecError(f"{where}: files.{role}.path {f['path']!r} is a glob, but format "
                            f"{fmt.registry_name} reads one {role} file (glob paths are allowed for "
                            f"roles {', '.join(fmt.multi_files) or '(none)'} of this format)")
        if "/" in f["path"].replace("\\", "/") and glob:
            raise SpecError(f"{where}: files.{role}.path {f['path']!r}: a glob matches file names in the "
                            f"data set's folder; it must not contain a directory")
        if not glob:
            if parts is not None:
                raise SpecError(f"{where}: files.{role}.parts is only for a glob path "
                                f"(files.{role}.path {f['path']!r} names one file: give its size and sha256)")
            continue
        for key in ("url", "size", "sha256"):
            if f.get(key) is not None:
                raise SpecError(f"{where}: files.{role}.{key}: a glob path ({f['path']!r}) names several "
                                f"files; give each file's size and sha256 under files.{role}.parts")
        if parts is None:
            continue
        if not parts:
            raise SpecError(f"{where}: files.{role}.parts is empty (expected file name: {{size, sha256}} "
                            f"entries, or leave parts out)")
        for name, entry in parts.items():
            if not isinstance(name, str) or not fnmatch.fnmatchcase(name, f["path"]):
                raise SpecError(f"{where}: files.{role}.parts: {name!r} does not match the glob "
                                f"{f['path']!r}")
            entry = {} if entry is None else entry
            if not isinstance(entry, dict):
                raise SpecError(f"{where}: files.{role}.parts.{name}: expected a mapping {{size, sha256}}, "
                                f"got {entry!r}")
            bad = sorted(set(map(str, entry)) - set(_PART_KEYS))
            if bad:
                raise SpecError(f"{where}: unknown key 'files.{role}.parts.{name}.{bad[0]}'; valid keys: "
                                f"{', '.join(_PART_KEYS)}")
            checked = {k: o.check(entry.get(k), f"{where}: files.{role}.parts.{name}.{k}")
                       for k, o in _PART_KEYS.items()}
            sha = checked["sha256"]
            if sha is not None and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha.lower())):
                raise SpecError(f"{where}: files.{role}.parts.{name}.sha256 must be 64 hex digits, got {sha!r}")
            parts[name] = checked


def expand(files: Dict[str, dict], folder: Path) -> Dict[str, Path]:
    """{key: expected path}: a plain role -> ``folder/path``; a glob role -> one key per file.

    A glob role with ``parts`` gives exactly the listed files (present or not); without
    ``parts`` every matching file in sorted order, or ``{role: folder/pattern}`` when
    nothing matches (reported as "no file matches" by the missing-file check).
    """
    out: Dict[str, Path] = {}
    for role, f in files.items():
        if not is_glob(f["path"]):
            out[role] = folder / f["path"]
            continue
        if f.get("parts"):
            names = list(f["parts"])
        else:
            names = sorted(p.name for p in folder.glob(f["path"]) if p.is_file()) if folder.is_dir() else []
        if not names:
            out[role] = folder / f["path"]
        for name in names:
            out[f"{role}[{name}]"] = folder / name
    return out


def file_entry(spec: Dict[str, Any], key: str) -> Dict[str, Any]:
    """The file entry (path, url, size, sha256, source) of an expanded key of ``spec``."""
    role = role_of(key)
    f = spec["files"][role]
    if key == role:
        return f
    name = key[len(role) + 1:-1]
    part = (f.get("parts") or {}).get(name) or {}
    return {**f, "path": name, "url": None, "size": part.get("size"), "sha256": part.get("sha256")}


def expanded_specs(spec: Dict[str, Any], paths: Dict[str, Path]) -> Dict[str, Dict[str, Any]]:
    """{role or expanded key: file entry}: the roles' own entries plus one per expanded key."""
    return {**spec["files"], **{key: file_entry(spec, key) for key in paths}}


def unlisted_matches(files: Dict[str, dict], folder: Path, role: str) -> list:
    """Files in ``folder`` that match role's glob but are not in its ``parts`` (sorted names)."""
    f = files[role]
    if not is_glob(f["path"]) or not f.get("parts") or not folder.is_dir():
        return []
    return sorted(p.name for p in folder.glob(f["path"]) if p.is_file() and p.name not in f["parts"])
