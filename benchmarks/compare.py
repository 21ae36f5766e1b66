"""Reproducibility check: do two results directories hold the same metrics for the same runs?

``compare A B`` pairs the finished runs (``runs/RUN_ID/metrics.json``) present in both
directories by run id (= the hash of the resolved config) and compares, per pair, every
test metric, the best epoch, the sample passes, the optimizer steps and the digest of
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


def _finished(root: Path) -> Dict[str, dict]:
    runs = {}
    for path in sorted((Path(root) / "runs").glob("*/metrics.json")):
        try:
            runs[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
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
    for k in sorted(set(ta) | set(tb)):
        if _differs(ta.get(k), tb.get(k), rtol):
            diffs.append((f"test.{k}", ta.get(k), tb.get(k)))
    return diffs


def compare_dirs(dir_a, dir_b, rtol: float = 0.0) -> dict:
    """{"common": [...], "identical": [...], "different": {run_id: diffs}, "only_b": [...]}."""
    ra, rb = _finished(Path(dir_a)), _finished(Path(dir_b))
    common = sorted(set(ra) & set(rb))
    different = {r: d for r in common if (d := compare_runs(ra[r], rb[r], rtol))}
    return {"common": common, "identical": [r for r in common if r not in different],
            "different": different, "only_b": sorted(set(rb) - set(ra))}
