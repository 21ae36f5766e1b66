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
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from .base import DataError

CHUNK = 1 << 20
USER_AGENT = "stbench-downloader/0.1 (+urllib)"

_HASH_CACHE: Dict[Tuple[str, int, int], str] = {}
CACHE_FILE_NAME = "sha256.json"
RACY_NS = 2_000_000_000  # files modified less than 2 s before hashing are not stored on disk


def hash_cache_path() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/stbench/sha256.json``: sha256 of files already hashed."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "stbench" / CACHE_FILE_NAME


def _read_hash_cache(path: Path) -> Dict[str, dict]:
    """{absolute path: {size, mtime_ns, sha256}}; a missing, unreadable or corrupt file is empty."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return {}
    return {k: v for k, v in data["files"].items()
            if isinstance(v, dict) and isinstance(v.get("sha256"), str) and len(v["sha256"]) == 64
            and isinstance(v.get("size"), int) and isinstance(v.get("mtime_ns"), int)}


def _write_hash_cache(path: Path, entries: Dict[str, dict]) -> None:
    """Write atomically (temp file + rename); a cache that cannot be written is skipped."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".sha256.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"version": 1, "files": entries}, f, indent=0, sort_keys=True)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _hash_bytes(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike, persist: bool = True, refresh: bool = False) -> str:
    """Hex sha256 of a file, cached by (absolute path, size, mtime_ns).

    The cache lives in memory and, with ``persist``, in ``hash_cache_path()`` so a large
    file is hashed once across processes, not on every start. ``refresh`` rehashes the
    bytes whatever the cache holds (``data verify``) and stores the result.
    """
    p = Path(path)
    st = p.stat()
    apath = str(p.resolve())
    key = (apath, st.st_mtime_ns, st.st_size)
    if not refresh and key in _HASH_CACHE:
        return _HASH_CACHE[key]
    cache_file = hash_cache_path() if persist else None
    if cache_file is not None and not refresh:
        hit = _read_hash_cache(cache_file).get(apath)
        if hit and hit["size"] == st.st_size and hit["mtime_ns"] == st.st_mtime_ns:
            _HASH_CACHE[key] = hit["sha256"]
            return hit["sha256"]
    digest = _hash_bytes(p)
    _HASH_CACHE[key] = digest
    # a file written in the last seconds may change again within the same mtime tick: hash it
    # again next time rather than trust (size, mtime) on disk
    if cache_file is not None and time.time_ns() - st.st_mtime_ns > RACY_NS:
        entries = _read_hash_cache(cache_file)  # re-read: another process may have added some
        entries[apath] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
        _write_hash_cache(cache_file, entries)
    return digest


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def check_file(path: Path, size: Optional[int], sha256: Optional[str], what: str = "",
               persist: bool = True, refresh: bool = False) -> str:
    """Check size and sha256 (when known); return the computed sha256 or raise DataError."""
    label = what or str(path)
    have = path.stat().st_size
    if size is not None and have != size:
        raise DataError(f"{label}: size mismatch: {have} bytes, expected {size}")
    digest = file_sha256(path, persist=persist, refresh=refresh)
    if sha256 is not None and digest != sha256.lower():
        raise DataError(f"{label}: sha256 mismatch: got {digest}, expected {sha256.lower()}")
    return digest


def _reason(exc: BaseException) -> str:
    """urllib's '<urlopen error [Errno -3] ...>' as its plain reason."""
    reason = getattr(exc, "reason", None)
    return " ".join(str(reason if reason is not None else exc).split())


def _part_note(part: Path) -> str:
    """What is left on disk after a failed transfer (only a part file with bytes in it is kept)."""
    try:
        have = part.stat().st_size
    except OSError:
        return "nothing was written; run the same command again to retry"
    if have == 0:
        part.unlink(missing_ok=True)
        return "nothing was written; run the same command again to retry"
    return f"the part file {part} ({have} bytes) is kept and the next download resumes it"


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
            raise DataError(f"{url}: cannot connect ({_reason(exc)}) while fetching {dest}; "
                            + _part_note(part)) from exc
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
                    raise DataError(f"{url}: transfer interrupted ({_reason(exc)}) while fetching "
                                    f"{dest}; " + _part_note(part)) from exc
    try:
        digest = check_file(part, size, sha256, what=f"{dest} (downloaded from {url})", persist=False)
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
    from .file_sets import file_entry
    from .registry import dataset_files, dataset_spec

    spec = dataset_spec(name)
    out: List[FileStatus] = []
    manual: List[str] = []
    for role, path in dataset_files(name, data_root).items():
        f = file_entry(spec, role)  # a glob role's file: its own path, size, sha256
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
    from .file_sets import file_entry
    from .registry import dataset_files, dataset_spec

    spec = dataset_spec(name)
    out: List[FileStatus] = []
    for role, path in dataset_files(name, data_root).items():
        f = file_entry(spec, role)  # a glob role's file: its own path, size, sha256
        if not path.is_file():
            out.append(FileStatus(role, path, "missing"))
            continue
        try:
            digest = check_file(path, f["size"], f["sha256"], refresh=True)  # always read the bytes
            out.append(FileStatus(role, path, "ok" if f["sha256"] else "unverified", digest))
        except DataError as exc:
            out.append(FileStatus(role, path, "mismatch", file_sha256(path), str(exc)))
    return out
