"""The environment a run happened in (env.json): code version, software, hardware, data."""
from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path
from typing import Iterable

REPO = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=1)
def _git_state_cached() -> tuple:
    return tuple(git_state_now().items())


def git_state() -> dict:
    """Commit and dirty flag, read once per process (a grid runs on one checkout)."""
    return dict(_git_state_cached())


#: where an untracked (not ignored) file makes the checkout dirty: the suite's code and configs
SUITE_PATHS = ("benchmarks", "datasets", "models", "pruning", "configs", "run_benchmark.py")


def git_state_now(repo: Path | str | None = None) -> dict:
    """{"commit": HEAD or None, "dirty": True/False (None outside a git checkout)}.

    Dirty: a tracked file differs from HEAD (anywhere in the checkout), or an untracked,
    not ignored file lies under ``SUITE_PATHS`` (a new pruning/x.py or configs/.../x.yaml
    changes what runs). Files the repository ignores never count.
    """
    cwd = Path(repo) if repo is not None else REPO

    def run(*args):
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    try:
        head = run("rev-parse", "HEAD")
        commit = head.stdout.strip() if head.returncode == 0 else None
        tracked = run("status", "--porcelain", "--untracked-files=no")
        untracked = run("ls-files", "--others", "--exclude-standard", "--", *SUITE_PATHS)
        if tracked.returncode != 0 or untracked.returncode != 0:
            return {"commit": commit, "dirty": None}
        dirty = bool(tracked.stdout.strip() or untracked.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {"commit": commit, "dirty": dirty}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    import torch

    return {**_static_machine_info(), "torch_threads": torch.get_num_threads()}


@functools.lru_cache(maxsize=1)
def _static_machine_info() -> dict:
    import torch

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    for mod in ("numpy", "pandas", "scipy"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:  # pragma: no cover - optional
            info[mod] = None
    return info


def run_env(seed: int, data_files: Iterable[str] = ()) -> dict:
    from stbench.datasets import file_sha256

    return {
        "git": git_state(),
        "machine": machine_info(),
        "seed": seed,
        "data_files": {str(f): file_sha256(f) for f in data_files if Path(f).is_file()},
    }
