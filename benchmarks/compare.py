"""Reproducibility check: do two results directories hold the same metrics for the same runs?

``compare A B`` pairs the finished runs (``runs/RUN_ID/metrics.json``) present in both
directories by identity (the ``hash`` of identity.json: config + data; the run id for runs
without one, so a rerun of a committed run made before data identities pairs with it once
``migrate`` gave it its identity.json), reports the runs found in only one of them (A or
B), and compares, per pair, every test metric both record (metrics added later, such as
WAPE, are compared where both runs have them), the best epoch, the sample passes, the optimizer steps and the digest of
the selected indices. Timings are not compared (they never repeat exactly).
Exact by default (a deterministic CPU rerun with the same thread count is bitwise equal);
``rtol`` allows |a - b| <= rtol * |a| for the test metrics; the counts and the digest
are always compared exactly.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, List, Tuple

#: compared exactly (whatever ``rtol``): top-level keys of metrics.json besides the ``test`` block
EXACT_KEYS = ("best_epoch", "sample_passes", "steps", "selected_digest", "epochs")


def _identity_key(run_dir: Path) -> str:
    try:
        return str(json.loads((run_dir / "identity.json").read_text(encoding="utf-8"))["hash"])
    except (OSError, ValueError, KeyError, TypeError):
        return run_dir.name


def _finished(root: Path) -> Dict[str, Tuple[str, dict]]:
    """{identity key: (run id, metrics)} of the finished runs under ``root``."""
    runs = {}
    for path in sorted((Path(root) / "runs").glob("*/metrics.json")):
        try:
            runs[_identity_key(path.parent)] = (path.parent.name, json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: unreadable metrics file ({e})") from e
    return runs


def _differs(a, b, rtol: float) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if math.isnan(a) and math.isnan(b):
            return False
        return abs(a - b) > rtol * abs(a) if rtol else a != b
    return a != b


def compare_runs(a: dict, b: dict, rtol: float = 0.0) -> List[Tuple[str, object, object]]:
    """(key, value in a, value in b) for every compared key that differs."""
    diffs = []
    for k in EXACT_KEYS:
        if _differs(a.get(k), b.get(k), 0.0):
            diffs.append((k, a.get(k), b.get(k)))
    ta, tb = a.get("test", {}), b.get("test", {})
    for k in sorted(set(ta) & set(tb)):
        if _differs(ta.get(k), tb.get(k), rtol):
            diffs.append((f"test.{k}", ta.get(k), tb.get(k)))
    return diffs


def compare_dirs(dir_a, dir_b, rtol: float = 0.0) -> dict:
    """{"common": [...], "identical": [...], "different": {run_id: diffs},
    "only_a": [...], "only_b": [...]}: finished runs in both, and in one directory only."""
    ra, rb = _finished(Path(dir_a)), _finished(Path(dir_b))
    keys = sorted(set(ra) & set(rb), key=lambda k: ra[k][0])
    common = [ra[k][0] for k in keys]  # named by A's run id
    different = {ra[k][0]: d for k in keys if (d := compare_runs(ra[k][1], rb[k][1], rtol))}
    return {"common": common, "identical": [r for r in common if r not in different],
            "different": different, "only_a": sorted(ra[k][0] for k in set(ra) - set(rb)),
            "only_b": sorted(rb[k][0] for k in set(rb) - set(ra))}


def one_sided_lines(res: dict, name_a, name_b) -> List[str]:
    """One line per run found in only one of the two directories ('only in A: RUN_ID')."""
    return ([f"only in {name_a}: {r}" for r in res.get("only_a", [])]
            + [f"only in {name_b}: {r}" for r in res.get("only_b", [])])


def summary_line(res: dict, name_a, name_b, rtol: float = 0.0) -> str:
    """'N of M common run(s) match exactly; K run(s) only in A; L run(s) only in B'."""
    n_common, n_diff = len(res["common"]), len(res["different"])
    tol = "exactly" if not rtol else f"within rtol {rtol:g}"
    text = f"{n_common - n_diff} of {n_common} common run(s) match {tol}"
    if res.get("only_a"):
        text += f"; {len(res['only_a'])} run(s) only in {name_a}"
    if res.get("only_b"):
        text += f"; {len(res['only_b'])} run(s) only in {name_b}"
    return text
