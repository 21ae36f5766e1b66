"""``full``: every training sample every epoch with weight 1 (the reference run)."""
from __future__ import annotations

from .base import PruneContext, Pruner, Selection, register_pruner
from .schedule import ParamCheck


@register_pruner("full")
class FullData(Pruner):
    """No pruning. The ratio must be 0 (a full-data run that drops samples is not full)."""

    dynamic = False

    def __init__(self, context: PruneContext, ratio: float = 0.0, **unknown):
        chk = ParamCheck.for_pruner(self, context, unknown)
        if chk.ratio(ratio) != 0.0:
            raise ValueError(f"pruner 'full' uses every sample: prune ratio must be 0, got {ratio!r}")
        super().__init__(context, 0.0)

    def select(self, epoch: int) -> Selection:
        return self.full()

    def extra_info(self) -> dict:
        return {"kept_fraction": 1.0}
