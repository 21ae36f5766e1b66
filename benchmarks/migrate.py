"""Give runs made before data identities existed an identity.json, after checking their data.

Runs committed before the run identity covered the data are named by the hash of their
config alone. ``migrate DIR`` records, for every such run directory, the identity the
run would have today (config + the data set's identity), but only when the data files
the run read (their sha256 in its env.json) are exactly the files the data set reads
now, byte for byte. The directory keeps its name; the runner finds it through
identity.json. The data set's YAML is taken as it is now: env.json did not record it
(new runs record it in identity.json). A run whose data no longer matches is left as it is and listed: a suite
that includes its cell runs it again under a new id.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List

import yaml

from stbench.benchmarks.config import RunSpec
from stbench.benchmarks.store import ResultsStore, atomic_write_json


def migrate_dir(results_dir, data_root=None) -> Dict[str, List[str]]:
    """{"migrated": [...], "current": [...], "mismatch": [run: reason], "skipped": [...]}."""
    from stbench.datasets.identity import dataset_identity

    store = ResultsStore(Path(results_dir))
    out: Dict[str, List[str]] = {"migrated": [], "current": [], "mismatch": [], "skipped": []}
    cache: Dict[str, dict] = {}
    for d in sorted(p for p in store.runs.iterdir() if p.is_dir()) if store.runs.is_dir() else []:
        if not (d / "config.yaml").is_file() or not (d / "env.json").is_file():
            out["skipped"].append(d.name)
            continue
        if (d / "identity.json").is_file():
            out["current"].append(d.name)
            continue
        cfg = yaml.safe_load((d / "config.yaml").read_text())
        spec = RunSpec(cfg, "")
        if not d.name.endswith(spec.config_hash[:8]):
            out["mismatch"].append(f"{d.name}: its config.yaml hashes to {spec.config_hash[:8]}")
            continue
        name = cfg["dataset"]["name"]
        if name not in cache:
            cache[name] = dataset_identity(name, data_root)
        ident = cache[name]
        recorded = sorted(json.loads((d / "env.json").read_text()).get("data_files", {}).values())
        now = sorted(ident.get("files", {}).values())
        if recorded != now:
            out["mismatch"].append(f"{d.name}: its data files (env.json) differ from {name}'s files now")
            continue
        spec.data_identity = ident
        atomic_write_json(d / "identity.json", {
            "hash": spec.hash, "config_hash": spec.config_hash, "data": ident,
            "migrated": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            + ": data files checked against env.json (sha256)"})
        out["migrated"].append(d.name)
    return out
