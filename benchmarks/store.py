"""The results store: one directory per run, atomic files, a lock per run.

Layout of a results directory ``OUT``::

    OUT/runs/<run_id>/config.yaml     resolved config
                     /identity.json   the run's identity: sha256 of (config, data identity), the
                                      config's own hash and the data identity (spec + file sha256s)
                     /env.json        git commit + dirty flag, versions, CPU/GPU, threads, data sha256
                     /curve.csv       per epoch: wall-clock, train loss, val MAE, kept fraction, ...
                     /timing.json     per epoch: train / eval / pruner seconds, passes, steps
                     /metrics.json    written LAST: test metrics overall and at horizons 3/6/12
                     /failed.json     instead of metrics.json when the run diverged or crashed
    OUT/results.csv                   one row per run, rebuilt from the run directories

A run whose directory holds metrics.json (or failed.json) is done and skipped, so an
interrupted grid resumes where it stopped. A cell is found by its identity: the
directory named by its run id, or a directory made before data identities existed
(named by the config hash alone) whose identity.json records the same identity
(``migrate`` writes it after checking the data files against env.json). Changing the
data set's YAML or a data file changes the identity, so the cell is pending again and
its new run gets a new directory; the old one stays for the record. Every file is written to a temp file and
renamed. A run is claimed with an exclusive ``flock`` on ``runs/<run_id>.lock``: a
second runner skips it, and the lock vanishes with the process (even on SIGKILL).
"""
from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import yaml

from stbench.benchmarks.config import workload_signature

RESULT_COLUMNS = [
    "run_id", "dataset", "model", "strategy", "pruner", "ratio", "seed", "profile",
    "status", "error", "params",
    "mae", "rmse", "mape", "mae@3", "rmse@3", "mape@3", "mae@6", "rmse@6", "mape@6",
    "mae@12", "rmse@12", "mape@12",
    "val_mae_best", "best_epoch", "epochs", "train_seconds", "eval_seconds", "pruner_seconds",
    "total_seconds", "sample_passes", "full_sample_passes", "steps", "kept_fraction",
    "budget", "budget_reached", "reference_epochs", "optimizer", "workload", "value_scale", "wape",
    "finished_at",
]
#: written only when some run uses them (so the files of stores without them keep their bytes)
SPARSE_COLUMNS = {"train_fraction": 1.0}
CURVE_COLUMNS = ["epoch", "wall_seconds", "train_seconds", "eval_seconds", "pruner_seconds",
                 "train_loss", "val_mae", "kept_fraction", "sample_passes", "steps", "lr"]
#: test metrics of the epoch's weights, written on the epochs where validation improved
CURVE_TEST_COLUMNS = ["test_mae", "test_rmse", "test_wape"]


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def csv_text(rows: Iterable[dict], columns: List[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def _fmt(v):
    if isinstance(v, float):
        return repr(round(v, 10))
    return v


def data_tag(identity: Optional[dict]) -> str:
    """'-' and 6 hex digits of the data identity (runs of one workload on different data must
    not share a table), or '' when the run has no recorded identity."""
    if not identity or not identity.get("data"):
        return ""
    from stbench.datasets.identity import identity_digest
    return "-" + identity_digest(identity["data"])[:6]


def value_scale(dataset: str) -> str:
    """'interval' for data measured on an interval scale (its YAML ``value_scale``), else 'ratio'."""
    try:
        from stbench.datasets import dataset_spec
        return str(dataset_spec(dataset).get("value_scale") or "ratio")
    except Exception:  # noqa: BLE001 - an unknown or broken data set: assume a ratio scale
        return "ratio"


class DamagedRun(ValueError):
    """A run directory's file cannot be read; the message names the file."""


VIRTUAL_FS = ("/proc", "/sys", "/dev")


def out_dir_problem(out: Path) -> Optional[str]:
    """Why ``out`` cannot be a results directory (one line), or None.

    Missing directories are created (parents too) when the first run is written; so the
    nearest existing one must be a writable directory on a real file system, and no
    component of the path may be a file."""
    out = Path(out)
    absolute = Path(os.path.abspath(out))
    for virtual in VIRTUAL_FS:
        if absolute == Path(virtual) or Path(virtual) in absolute.parents:
            return f"{out}: under {virtual}, a virtual file system; expected a directory on a disk"
    if out.exists() and not out.is_dir():
        return f"{out}: is a file; expected a results directory (new or existing)"
    anc = absolute
    while not anc.exists():
        anc = anc.parent
    if not anc.is_dir():
        return f"{out}: {anc} is a file, so no directory can be made under it; expected a results directory"
    try:
        readonly = bool(os.statvfs(anc).f_flag & os.ST_RDONLY)
    except OSError:
        readonly = False
    if readonly or not os.access(anc, os.W_OK | os.X_OK):
        what = "is on a read-only file system" if readonly else "is not writable by this user"
        made = "" if anc == absolute else f" (the nearest existing directory of {out})"
        return f"{out}: {anc}{made} {what}; expected a writable results directory"
    return None


class RunLock:
    """Exclusive, non-blocking claim on one run (``flock`` on a lock file)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd: Optional[int] = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return True

    def acquire_probe(self) -> bool:
        """True if nobody holds the lock (taken and released at once; no lock file is created)."""
        if not self.path.exists():
            return True
        if not self.acquire():
            return False
        self.release()
        return True

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


class ResultsStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.runs = self.root / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id

    def locate(self, spec) -> str:
        """The run id under which ``spec`` (a config.RunSpec) is stored: its own, or a legacy
        directory (config hash only) whose identity.json records the same identity."""
        rid = spec.run_id
        if self.run_dir(rid).is_dir() or spec.data_identity is None:
            return rid
        legacy = spec.legacy_run_id
        ident = self.identity(legacy)
        if ident is not None and ident.get("hash") == spec.hash:
            return legacy
        return rid

    def identity(self, run_id: str) -> Optional[dict]:
        path = self.run_dir(run_id) / "identity.json"
        try:
            return json.loads(path.read_text()) if path.is_file() else None
        except (OSError, ValueError):
            return None

    def write_identity(self, run_id: str, spec) -> None:
        atomic_write_json(self.run_dir(run_id) / "identity.json",
                          {"hash": spec.hash, "config_hash": spec.config_hash, "data": spec.data_identity})

    def is_done(self, run_id: str) -> bool:
        d = self.run_dir(run_id)
        return (d / "metrics.json").exists() or (d / "failed.json").exists()

    def status(self, run_id: str) -> str:
        d = self.run_dir(run_id)
        if (d / "metrics.json").exists():
            return "finished"
        if (d / "failed.json").exists():
            return "failed"
        return "pending"

    def lock(self, run_id: str) -> RunLock:
        return RunLock(self.runs / f"{run_id}.lock")

    def set_aside(self, run_id: str) -> Path:
        """Move run ``run_id``'s directory to OUT/replaced/<run_id>.<UTC time> (``run --rerun``):
        its cell is pending again and the old run stays for the record, out of results.csv."""
        from datetime import datetime, timezone
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        dst = self.root / "replaced" / f"{run_id}.{stamp}"
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.run_dir(run_id), dst)
        return dst

    def clear_failed(self, run_id: str) -> None:
        f = self.run_dir(run_id) / "failed.json"
        if f.exists():
            f.unlink()

    # ---------------------------------------------------------------- writing one run
    def start(self, run_id: str, config: dict, env: dict) -> Path:
        d = self.run_dir(run_id)
        d.mkdir(parents=True, exist_ok=True)
        atomic_write_text(d / "config.yaml", yaml.safe_dump(config, sort_keys=True))
        atomic_write_json(d / "env.json", env)
        return d

    def write_epoch(self, run_id: str, records: List[dict]) -> None:
        """Rewrite curve.csv and timing.json with the epochs so far (atomic)."""
        d = self.run_dir(run_id)
        rows = ({**{k: _fmt(r[k]) for k in CURVE_COLUMNS},
                 **{k: _fmt((r.get("test") or {}).get(k[5:], "")) for k in CURVE_TEST_COLUMNS}}
                for r in records)
        atomic_write_text(d / "curve.csv", csv_text(rows, CURVE_COLUMNS + CURVE_TEST_COLUMNS))
        atomic_write_json(d / "timing.json", {"epochs": records})

    def finish(self, run_id: str, metrics: dict) -> None:
        atomic_write_json(self.run_dir(run_id) / "metrics.json", metrics)

    def fail(self, run_id: str, reason: str, detail: str = "") -> None:
        atomic_write_json(self.run_dir(run_id) / "failed.json", {"status": "failed", "error": reason,
                                                                 "detail": detail})

    # ---------------------------------------------------------------- aggregate
    def _read_json(self, path: Path, keys: Iterable[str] = ()) -> dict:
        """A run's JSON file; a DamagedRun naming the file when it is unreadable or lacks ``keys``."""
        try:
            obj = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise DamagedRun(f"{path}: not a readable JSON file ({type(e).__name__}: {e})") from None
        if not isinstance(obj, dict):
            raise DamagedRun(f"{path}: expected a JSON object, got {type(obj).__name__}")
        missing = [k for k in keys if k not in obj]
        if missing:
            raise DamagedRun(f"{path}: lacks {', '.join(map(repr, missing))}")
        return obj

    def _read_config(self, d: Path) -> dict:
        path = d / "config.yaml"
        try:
            cfg = yaml.safe_load(path.read_text())
            cfg["dataset"]["name"], cfg["model"]["name"], cfg["strategy"]["label"], cfg["seed"]  # noqa: B018
        except (OSError, yaml.YAMLError, KeyError, TypeError) as e:
            raise DamagedRun(f"{path}: not a readable run config ({type(e).__name__}: {e})") from None
        return cfg

    def incomplete(self) -> List[Tuple[str, str]]:
        """(run id, reason) of every run directory that holds no result the report can use:
        unfinished (no metrics.json nor failed.json: interrupted, or running now), without a
        config.yaml, or with a damaged config.yaml / metrics.json / failed.json."""
        out: List[Tuple[str, str]] = []
        if not self.runs.is_dir():
            return out
        for d in sorted(p for p in self.runs.iterdir() if p.is_dir()):
            out.extend((d.name, why) for why in [self._problem(d)] if why)
        return out

    def _problem(self, d: Path) -> Optional[str]:
        if not (d / "config.yaml").exists():
            return "no config.yaml (not a run directory, or the run never started writing)"
        try:
            self._read_config(d)
            if (d / "metrics.json").exists():
                self._read_json(d / "metrics.json", ("test",))
            elif (d / "failed.json").exists():
                self._read_json(d / "failed.json")
            else:
                running = not self.lock(d.name).acquire_probe()
                return ("running now (its lock is held)" if running else
                        "unfinished: no metrics.json nor failed.json (interrupted; the next run of the "
                        "suite reruns it)")
        except DamagedRun as e:
            return str(e)
        return None

    def rows(self) -> List[dict]:
        """One row per run directory with a metrics.json or failed.json, sorted by run_id
        (the others: :meth:`incomplete`)."""
        out = []
        if not self.runs.is_dir():
            return out
        for d in sorted(p for p in self.runs.iterdir() if p.is_dir()):
            cfg_path = d / "config.yaml"
            if not cfg_path.exists() or self._problem(d) is not None:
                continue
            cfg = self._read_config(d)
            row = {
                "run_id": d.name, "dataset": cfg["dataset"]["name"], "model": cfg["model"]["name"],
                "strategy": cfg["strategy"]["label"], "pruner": cfg["strategy"]["name"],
                "ratio": cfg["strategy"]["ratio"], "seed": cfg["seed"], "profile": cfg["profile"],
                "budget": cfg["strategy"].get("budget"), "optimizer": cfg["train"]["optimizer"],
                "workload": workload_signature(cfg) + data_tag(self.identity(d.name)),
                "value_scale": value_scale(cfg["dataset"]["name"]),
                "train_fraction": cfg["dataset"].get("train_fraction", 1.0),
            }
            if (d / "metrics.json").exists():
                m = self._read_json(d / "metrics.json", ("test",))
                row.update({"status": "finished", "error": ""})
                row.update({k: m["test"].get(k) for k in ("mae", "rmse", "mape", "mae@3", "rmse@3", "mape@3",
                                                           "mae@6", "rmse@6", "mape@6", "mae@12", "rmse@12",
                                                           "mape@12")})
                row.update({k: m.get(k) for k in ("params", "val_mae_best", "best_epoch", "epochs",
                                                   "train_seconds", "eval_seconds", "pruner_seconds",
                                                   "total_seconds", "sample_passes", "full_sample_passes",
                                                   "steps", "kept_fraction", "budget_reached",
                                                   "reference_epochs", "finished_at")})
                row["wape"] = m["test"].get("wape")
                if row["budget_reached"] is None and m.get("full_sample_passes"):
                    row["budget_reached"] = m["sample_passes"] / m["full_sample_passes"]
            elif (d / "failed.json").exists():
                f = self._read_json(d / "failed.json")
                row.update({"status": "failed", "error": f.get("error", "")})
            else:
                continue
            out.append({k: _fmt(v) for k, v in row.items()})
        return out

    def write_results_csv(self) -> Path:
        path = self.root / "results.csv"
        rows = self.rows()
        sparse = [c for c, neutral in SPARSE_COLUMNS.items()
                  if any(float(r.get(c) or neutral) != neutral for r in rows)]
        atomic_write_text(path, csv_text(rows, RESULT_COLUMNS + sparse))
        return path
