"""Fetching and verifying a data set's published files.

``download_file`` writes to ``FILE.part``; if a part file exists it resumes with an HTTP
``Range: bytes=<have>-`` request (a server that answers 200 instead of 206 restarts the
file from scratch). When the transfer ends it checks the size and the sha256 given in
the YAML, then renames the part file atomically onto ``FILE``. A size or checksum
mismatch removes the part file and raises ``DataError``. When the YAML has no sha256
the file is kept and the computed hash is printed, saying it could not be verified.
"""
from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from .base import DataError

CHUNK = 1 << 20
USER_AGENT = "stbench-downloader/0.1 (+urllib)"

_HASH_CACHE: Dict[Tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, cached by (absolute path, mtime_ns, size)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _HASH_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(CHUNK), b""):
                h.update(block)
        _HASH_CACHE[key] = h.hexdigest()
    return _HASH_CACHE[key]


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def check_file(path: Path, size: Optional[int], sha256: Optional[str], what: str = "") -> str:
    """Check size and sha256 (when known); return the computed sha256 or raise DataError."""
    label = what or str(path)
    have = path.stat().st_size
    if size is not None and have != size:
        raise DataError(f"{label}: size mismatch: {have} bytes, expected {size}")
    digest = file_sha256(path)
    if sha256 is not None and digest != sha256.lower():
        raise DataError(f"{label}: sha256 mismatch: got {digest}, expected {sha256.lower()}")
    return digest


def download_file(url: str, dest: str | os.PathLike, size: Optional[int] = None,
                  sha256: Optional[str] = None, timeout: float = 60.0,
                  log: Callable[[str], None] = _say) -> Path:
    """Fetch ``url`` to ``dest`` resumably (see module docstring); return ``dest``."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        log(f"{part}: longer than the expected {size} bytes; starting again")
        part.unlink()
        have = 0
    if size is None or have < size:
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        if have:
            req.add_header("Range", f"bytes={have}-")
        try:
            resp = urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # nothing left to send: the part file is complete
                resp = None
            else:
                raise DataError(f"{url}: HTTP {exc.code} {exc.reason} while fetching {dest}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise DataError(f"{url}: cannot connect ({exc}) while fetching {dest}; the part file "
                            f"{part} is kept and the next download resumes it") from exc
        if resp is not None:
            with resp:
                resumed = have and resp.status == 206
                if have and not resumed:
                    log(f"{url}: server ignored the Range request; restarting {dest.name}")
                mode = "ab" if resumed else "wb"
                if resumed:
                    log(f"resuming {dest.name} at byte {have}")
                try:
                    with open(part, mode) as f:
                        for block in iter(lambda: resp.read(CHUNK), b""):
                            f.write(block)
                except (OSError, urllib.error.URLError) as exc:
                    raise DataError(f"{url}: transfer interrupted ({exc}); {part} is kept and the next "
                                    f"download resumes it") from exc
    try:
        digest = check_file(part, size, sha256, what=f"{dest} (downloaded from {url})")
    except DataError:
        part.unlink(missing_ok=True)
        raise
    if sha256 is None:
        log(f"WARNING: could not verify {dest.name}: no sha256 in the data set's YAML; "
            f"computed sha256 {digest} ({part.stat().st_size} bytes)")
    os.replace(part, dest)
    return dest


@dataclass
class FileStatus:
    role: str
    path: Path
    status: str  # ok | unverified | missing | mismatch | downloaded | manual
    sha256: Optional[str] = None
    message: str = ""


def download_dataset(name: str, data_root=None, force: bool = False,
                     log: Callable[[str], None] = _say) -> List[FileStatus]:
    """Fetch every file of data set ``name`` that is absent (or every file with ``force``)."""
    from .registry import dataset_files, dataset_spec

    spec = dataset_spec(name)
    out: List[FileStatus] = []
    manual: List[str] = []
    for role, path in dataset_files(name, data_root).items():
        f = spec["files"][role]
        if path.is_file() and (not force or not f["url"]):
            try:
                digest = check_file(path, f["size"], f["sha256"])
            except DataError as exc:
                raise DataError(f"{exc}; delete the file or download again with --force") from exc
            out.append(FileStatus(role, path, "ok" if f["sha256"] else "unverified", digest, "already present"))
            continue
        if not f["url"]:
            manual.append(f"{path} (get it from {f['source'] or 'the source named in the citation'})")
            continue
        log(f"fetching {f['url']} -> {path}")
        download_file(f["url"], path, f["size"], f["sha256"], log=log)
        out.append(FileStatus(role, path, "downloaded", file_sha256(path)))
    if manual:
        raise DataError(f"{spec['name']}: no direct download URL for " + "; ".join(manual)
                        + " -- put the files at those paths by hand")
    return out


def verify_dataset(name: str, data_root=None) -> List[FileStatus]:
    """sha256 (and size) of every present file against the YAML; never raises on mismatch."""
    from .registry import dataset_files, dataset_spec

    spec = dataset_spec(name)
    out: List[FileStatus] = []
    for role, path in dataset_files(name, data_root).items():
        f = spec["files"][role]
        if not path.is_file():
            out.append(FileStatus(role, path, "missing"))
            continue
        try:
            digest = check_file(path, f["size"], f["sha256"])
            out.append(FileStatus(role, path, "ok" if f["sha256"] else "unverified", digest))
        except DataError as exc:
            out.append(FileStatus(role, path, "mismatch", file_sha256(path), str(exc)))
    return out
