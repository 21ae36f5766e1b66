"""``random``: a uniform random fraction r of the samples is dropped.

- ``mode: dynamic``: a new subset every epoch (drawn from ``rng(epoch)``).
- ``mode: static``: one subset drawn once (from ``rng(0)``) and kept for the whole run.

Exactly ``k = round((1 - r) n)`` samples (at least 1) are kept, each with weight 1, or
``1 / (1 - r)`` with ``rescale: true`` (then E[sum_i w_i l_i] = sum_i l_i). With
``anneal: delta`` every epoch e >= delta * E is full data with weight 1.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .base import PruneContext, Pruner, Selection, register_pruner
from .schedule import ParamCheck, is_annealed, kept_count


@register_pruner("random")
class RandomPruner(Pruner):
    """Uniform random pruning, redrawn every epoch (dynamic) or drawn once (static)."""

    def __init__(self, context: PruneContext, ratio: float = 0.5, *, mode: str = "dynamic",
                 rescale: bool = False, anneal: Optional[float] = None, **unknown):
        chk = ParamCheck.for_pruner(self, context, unknown)
        super().__init__(context, chk.ratio(ratio))
        self.mode = chk.choice("mode", mode, ("dynamic", "static"))
        self.rescale = chk.boolean("rescale", rescale)
        self.anneal = chk.anneal(anneal)
        self.dynamic = self.mode == "dynamic"
        self.k = kept_count(self.n, self.ratio)
        self._static: Optional[np.ndarray] = None
        self._info: dict = {}

    def _draw(self, epoch: int) -> np.ndarray:
        return np.sort(self.rng(epoch).choice(self.n, size=self.k, replace=False))

    def select(self, epoch: int) -> Selection:
        if self.ratio == 0.0 or is_annealed(epoch, self.epochs, self.anneal):
            self._info = {"annealed": self.ratio > 0, "kept_fraction": 1.0}
            return self.full()
        if self.dynamic:
            idx = self._draw(epoch)
        else:
            if self._static is None:
                self._static = self._draw(0)
            idx = self._static
        w = 1.0 / (1.0 - self.ratio) if self.rescale else 1.0
        self._info = {"annealed": False, "kept_fraction": self.k / self.n}
        return Selection(idx, np.full(idx.size, w, dtype=np.float32))

    def extra_info(self) -> dict:
        return dict(self._info)
