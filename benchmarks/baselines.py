"""``run SUITE --baselines DIR``: reuse a results store's finished cells, run only the rest.

Every cell of the suite that DIR holds as a finished run with the same identity (config +
data + code, benchmarks/config.py) is copied into the suite's results directory (never
rerun); the cells left (a new method's) run as usual, and the report of the results
directory then places the new method among the baselines. A cell that DIR holds under
another identity (same data set, model, strategy label, ratio or budget and seed, but some
setting differs) is an error before anything runs, and the message names every differing
key with both values, e.g. ``train.threads: 1 (yours) vs 2 (baselines)``: make the suite
match, or run without ``--baselines`` to run those cells anew.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import yaml

from stbench.benchmarks.config import ConfigError, RunSpec, identity_view
from stbench.benchmarks.store import ResultsStore

#: how many differing keys one cell's message lists
MAX_DIFFS = 12


def cell_key(cfg: dict) -> tuple:
    """(data set, model, strategy label, ratio, budget, seed): the grid point, identity aside."""
    st = cfg["strategy"]
    budget = st.get("budget")
    return (cfg["dataset"]["name"], cfg["model"]["name"], st["label"], round(float(st["ratio"]), 9),
            None if budget is None else round(float(budget), 9), int(cfg["seed"]))


def flatten(obj: Any, prefix: str = "") -> Dict[str, Any]:
    """{"train.threads": 2, ...}: a nested mapping's leaves under dotted keys."""
    if isinstance(obj, dict) and obj:
        out: Dict[str, Any] = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}


def _short(v: Any) -> str:
    if v is _ABSENT:
        return "(absent)"
    text = repr(v) if isinstance(v, str) else str(v)
    return text if len(text) <= 80 else text[:77] + "..."


_ABSENT = object()


def differences(spec: RunSpec, base: ResultsStore, run_id: str) -> List[str]:
    """``key: yours (yours) vs theirs (baselines)`` for every setting of ``spec`` that differs
    from the baseline run ``run_id`` (config, data identity, code)."""
    cfg = yaml.safe_load((base.run_dir(run_id) / "config.yaml").read_text())
    ours, theirs = flatten(identity_view(spec.config)), flatten(identity_view(cfg))
    ident = base.identity(run_id) or {}
    if spec.data_identity is not None and ident.get("data") is not None:
        ours.update(flatten({"data": spec.data_identity}))
        theirs.update(flatten({"data": ident["data"]}))
    lines = []
    for k in sorted(set(ours) | set(theirs)):
        a, b = ours.get(k, _ABSENT), theirs.get(k, _ABSENT)
        if a != b:
            lines.append(f"{k}: {_short(a)} (yours) vs {_short(b)} (baselines)")
    return lines


def _index(base: ResultsStore) -> Dict[tuple, List[str]]:
    """Cell key -> run ids of DIR (finished first)."""
    out: Dict[tuple, List[str]] = {}
    if not base.runs.is_dir():
        return out
    for d in sorted(p for p in base.runs.iterdir() if p.is_dir() and (p / "config.yaml").is_file()):
        try:
            key = cell_key(yaml.safe_load((d / "config.yaml").read_text()))
        except (KeyError, TypeError, ValueError, yaml.YAMLError):
            continue
        out.setdefault(key, []).append(d.name)
    for ids in out.values():
        ids.sort(key=lambda r: base.status(r) != "finished")
    return out


def adopt(specs: List[RunSpec], store: ResultsStore, baselines, dry_run: bool = False,
          say=print) -> Dict[str, Any]:
    """Copy the finished runs of ``baselines`` that are cells of ``specs`` into ``store``.

    Returns {"reused": [run ids], "to_run": [run ids]}; raises ConfigError naming the
    differing keys when a cell's baseline run has another identity.
    """
    base_root = Path(baselines)
    if not (base_root / "runs").is_dir():
        raise ConfigError(f"--baselines {baselines}: holds no runs/ directory (a results directory, "
                          f"e.g. results/budget_cpu)")
    base = ResultsStore(base_root)
    same_store = base_root.resolve() == Path(store.root).resolve()
    index = _index(base)
    reused: List[str] = []
    to_run: List[str] = []
    mismatched: List[Tuple[RunSpec, str, List[str]]] = []
    for spec in specs:
        if store.is_done(store.locate(spec)):
            continue
        rid = base.locate(spec)
        if base.status(rid) == "finished":
            if not (dry_run or same_store):
                dst = store.run_dir(rid)
                if dst.exists():  # a partial copy or an unfinished run of ours: the baseline replaces it
                    shutil.rmtree(dst)
                shutil.copytree(base.run_dir(rid), dst, ignore=shutil.ignore_patterns("*.lock", ".*.tmp"))
            reused.append(rid)
            continue
        others = [r for r in index.get(cell_key(spec.config), []) if base.status(r) == "finished"]
        if others:  # the closest one (fewest differing keys: the same experiment, as a rule)
            best = min(((differences(spec, base, r), r) for r in others[:20]), key=lambda t: len(t[0]))
            mismatched.append((spec, best[1], best[0]))
        else:
            to_run.append(spec.run_id)
    if mismatched:
        lines = [f"--baselines {baselines}: {len(mismatched)} cell(s) of this suite are in the baselines "
                 f"under another identity, so they would be rerun; what differs:"]
        for spec, rid, diffs in mismatched[:20]:
            lines.append(f"  {spec.run_id} vs {rid}:")
            lines += [f"    {d}" for d in diffs[:MAX_DIFFS]]
            if len(diffs) > MAX_DIFFS:
                lines.append(f"    ... and {len(diffs) - MAX_DIFFS} more")
            if not diffs:
                lines.append("    (no setting differs: the baseline run was made before identities "
                             "covered the data; python run_benchmark.py migrate DIR)")
        if len(mismatched) > 20:
            lines.append(f"  ... and {len(mismatched) - 20} more cells")
        lines.append("Make the suite's settings match the baselines', or run without --baselines to run "
                     "these cells anew.")
        raise ConfigError("\n".join(lines))
    say(f"baselines {baselines}: {len(reused)} cell(s) reused" + (" (already in place)" if same_store else "")
        + f", {len(to_run)} to run")
    return {"reused": reused, "to_run": to_run}
