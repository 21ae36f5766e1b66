"""The suite's own code in a run's identity: its version, plus a hash of its source when the
checkout is dirty.

``suite_code()`` is ``stbench.__version__`` (e.g. ``0.1.0``) for a clean checkout or an
installed wheel, and ``0.1.0+src.<12 hex>`` when a file of the code a run executes
(:data:`SOURCE_PATHS`, less :data:`NOT_RUN`: reports, performance scripts, command-line
glue) differs from the checkout's HEAD or is new and not ignored. The hash is over the
content of those files, so two checkouts with the same edits give the same value.

benchmarks/config.py puts it in a run's config as ``code.stbench`` only when it differs from
:data:`NEUTRAL_VERSION`, the version every committed run was made at: committed runs keep
their ids, a run made with uncommitted code changes gets its own id (its cell is pending
again), and raising ``__version__`` (do it in the commit that changes what a run computes)
gives every new run a new id. ``STBENCH_CODE_IDENTITY=version`` leaves the source hash out
(the version alone: for trying an edit against finished cells; env.json still records the
dirty flag).
"""
from __future__ import annotations

import functools
import hashlib
import os
import subprocess
from pathlib import Path
from typing import List, Optional

#: the version of the code that made every run committed before code identities existed
NEUTRAL_VERSION = "0.1.0"
#: the packages whose code a run executes
SOURCE_PATHS = ("stbench", "benchmarks", "datasets", "models", "pruning")
#: files under SOURCE_PATHS that cannot change a run's result (git pathspec globs)
NOT_RUN = ("benchmarks/report*.py", "benchmarks/perf_*.py", "benchmarks/stats.py", "benchmarks/compare.py",
           "benchmarks/migrate.py", "benchmarks/cli.py", "benchmarks/commands.py", "datasets/cli.py",
           "datasets/download.py", "models/cli.py")
ENV = "STBENCH_CODE_IDENTITY"


def checkout_root() -> Optional[Path]:
    """The repository root when this package runs from a git checkout, else None (a wheel)."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / ".git").exists() and (root / "pruning").is_dir() else None


def _pathspecs() -> List[str]:
    return [f"{p}/*.py" for p in SOURCE_PATHS] + [f":(exclude){g}" for g in NOT_RUN]


def source_state(root: Path) -> Optional[tuple]:
    """(dirty, sha256 of the source files' content) of checkout ``root``; None without git."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
    try:
        st = git("status", "--porcelain", "--untracked-files=all", "--", *_pathspecs())
        ls = git("ls-files", "--cached", "--others", "--exclude-standard", "--", *_pathspecs())
    except (OSError, subprocess.SubprocessError):
        return None
    if st.returncode != 0 or ls.returncode != 0:
        return None
    h = hashlib.sha256()
    for rel in sorted(set(ls.stdout.split("\n")) - {""}):
        f = root / rel
        if f.is_file():  # a deleted tracked file is listed but absent: its absence is the change
            h.update(rel.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return bool(st.stdout.strip()), h.hexdigest()


@functools.lru_cache(maxsize=1)
def _suite_code(mode: str) -> str:
    from stbench import __version__
    root = checkout_root()
    if root is None or mode == "version":
        return __version__
    state = source_state(root)
    if state is None or not state[0]:
        return __version__
    return f"{__version__}+src.{state[1][:12]}"


def suite_code() -> str:
    """``__version__``, or ``__version__+src.<hash>`` for a checkout with uncommitted code
    (read once per process and mode)."""
    mode = os.environ.get(ENV, "auto")
    if mode not in ("auto", "version"):
        raise ValueError(f"${ENV}={mode!r}: expected 'auto' (default) or 'version'")
    return _suite_code(mode)
