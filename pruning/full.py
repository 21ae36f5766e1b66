"""``full``: every training sample every epoch with weight 1 (the reference run).

At a compute budget b (budget mode ``schedule``) the engine itself shortens the run to
E_b = max(1, round(b E)) epochs with scaled learning-rate milestones; the pruner still
returns the full data, and its plan is ``planned_counts[e] = n`` for e < E_b, 0 after.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .base import PruneContext, Pruner, Selection, register_pruner
from .schedule import ParamCheck


@register_pruner("full")
class FullData(Pruner):
    """No pruning. The ratio must be 0 (a full-data run that drops samples is not full)."""

    dynamic = False

    def __init__(self, context: PruneContext, ratio: float = 0.0, budget: Optional[float] = None,
                 **unknown):
        chk = ParamCheck.for_pruner(self, context, unknown)
        if chk.ratio(ratio) != 0.0:
            raise ValueError(f"pruner 'full' uses every sample: prune ratio must be 0, got {ratio!r}")
        super().__init__(context, 0.0, budget)
        if self.budget is not None:
            run = max(1, int(round(self.budget * self.epochs)))
            self.planned_counts = np.where(np.arange(self.epochs) < run, self.n, 0).astype(np.int64)

    @classmethod
    def budget_mode(cls, params: dict) -> str:
        return "schedule"

    def select(self, epoch: int) -> Selection:
        return self.full()

    def extra_info(self) -> dict:
        info = {"kept_fraction": 1.0}
        if self.budget is not None:
            info["target_count"] = self.n
        return info
