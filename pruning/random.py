"""``random``: a uniform random fraction r of the samples is dropped.

- ``mode: dynamic``: a new subset every epoch (drawn from ``rng(epoch)``).
- ``mode: static``: one subset drawn once (from ``rng(0)``) and kept for the whole run.

Ratio mode: exactly ``k = round((1 - r) n)`` samples (at least 1) are kept, each with
weight 1, or ``1 / (1 - r)`` with ``rescale: true`` (then E[sum_i w_i l_i] = sum_i l_i).
With ``anneal: delta`` every epoch e >= delta * E is full data with weight 1.

Budget mode (budget b): the annealed epochs are full data, counted against the budget
(``budget_counts(n, E, b, full_epochs=annealed)``); every other epoch e keeps
k_e = planned_counts[e] samples (dynamic) or, static, one fixed subset of
k = round(R / m) samples (R: windows left for the m pruned epochs), so the run spends
b E n passes within one window per epoch. ``rescale: true`` weighs kept samples n / k_e.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .base import PruneContext, Pruner, Selection, register_pruner
from .schedule import ParamCheck, anneal_epoch, is_annealed, kept_count, static_count


@register_pruner("random")
class RandomPruner(Pruner):
    """Uniform random pruning, redrawn every epoch (dynamic) or drawn once (static)."""

    def __init__(self, context: PruneContext, ratio: float = 0.5, budget: Optional[float] = None, *,
                 mode: str = "dynamic", rescale: bool = False, anneal: Optional[float] = None,
                 **unknown):
        chk = ParamCheck.for_pruner(self, context, unknown)
        super().__init__(context, chk.ratio(ratio), budget)
        self.mode = chk.choice("mode", mode, ("dynamic", "static"))
        self.rescale = chk.boolean("rescale", rescale)
        self.anneal = chk.anneal(anneal)
        self.dynamic = self.mode == "dynamic"
        self.k = kept_count(self.n, self.ratio)
        self._static: Optional[np.ndarray] = None
        self._info: dict = {}
        if self.budget is not None:
            a = anneal_epoch(self.epochs, self.anneal)
            self._full = np.arange(self.epochs) >= (self.epochs if a is None else a)
            self.plan_budget(np.flatnonzero(self._full))
            if not self.dynamic:
                self.k = static_count(self.planned_counts, self._full)
                self.planned_counts[~self._full] = self.k

    @classmethod
    def budget_mode(cls, params: dict) -> str:
        return "exact"

    def _draw(self, epoch: int, k: int) -> np.ndarray:
        return np.sort(self.rng(epoch).choice(self.n, size=k, replace=False))

    def select(self, epoch: int) -> Selection:
        if self.budget is not None:
            return self._select_budget(epoch)
        if self.ratio == 0.0 or is_annealed(epoch, self.epochs, self.anneal):
            self._info = {"annealed": self.ratio > 0, "kept_fraction": 1.0}
            return self.full()
        if self.dynamic:
            idx = self._draw(epoch, self.k)
        else:
            if self._static is None:
                self._static = self._draw(0, self.k)
            idx = self._static
        w = 1.0 / (1.0 - self.ratio) if self.rescale else 1.0
        self._info = {"annealed": False, "kept_fraction": self.k / self.n}
        return Selection(idx, np.full(idx.size, w, dtype=np.float32))

    def _select_budget(self, epoch: int) -> Selection:
        k = int(self.planned_counts[min(int(epoch), self.epochs - 1)])
        annealed = bool(self._full[min(int(epoch), self.epochs - 1)])
        self._info = {"annealed": annealed, "kept_fraction": k / self.n, "target_count": k}
        if annealed or k >= self.n:
            return self.full()
        if self.dynamic:
            idx = self._draw(epoch, k)
        else:
            if self._static is None:
                self._static = self._draw(0, self.k)
            idx = self._static
        w = self.n / k if self.rescale else 1.0
        return Selection(idx, np.full(idx.size, w, dtype=np.float32))

    def extra_info(self) -> dict:
        return dict(self._info)
