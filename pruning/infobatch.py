"""``infobatch``: InfoBatch (Qin et al., ICLR 2024), as published, without the public code's flaws.

Per epoch e with latest losses l_i (the learning state)::

    candidates  C_e = {i : l_i < mean_j l_j}            (no candidate while all l_i are equal)
    drop        each i in C_e independently with probability r
    weights     w_i = 1 / (1 - r) for kept candidates, 1 for every other sample

so E[sum_{i kept} w_i l_i] = sum_i l_i, and the expected kept fraction is
1 - r |C_e| / n. Epoch 0 (no losses yet) and every epoch e >= delta * E
(``anneal``, default 0.875) use the full data with weight 1.

Differences from the public code, on purpose: the full-data / weight-1 switch holds
for every epoch >= delta * E even when delta * E is not an integer; randomness comes from
``self.rng(epoch)`` (no global RNG is reseeded); the weights are per sample and the
engine's loss is mean_i(w_i l_i) (no batch-global mask normalisation).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .base import PruneContext, Pruner, Selection, register_pruner
from .schedule import LossMemory, ParamCheck, is_annealed


def below_mean(score: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """(n,) bool: eligible samples whose score is below the eligible mean (none if all equal)."""
    if not eligible.any():
        return np.zeros(score.shape, dtype=bool)
    s = score[eligible]
    if s.max() <= s.min():
        return np.zeros(score.shape, dtype=bool)
    return eligible & (score < s.mean())


@register_pruner("infobatch")
class InfoBatch(Pruner):
    """Soft random pruning of below-mean-loss samples with 1/(1-r) rescaling and annealing."""

    def __init__(self, context: PruneContext, ratio: float = 0.5, *, anneal: Optional[float] = 0.875,
                 **unknown):
        chk = ParamCheck.for_pruner(self, context, unknown)
        super().__init__(context, chk.ratio(ratio))
        self.anneal = chk.anneal(anneal)
        self.memory = LossMemory(self.n, "infobatch")
        self._info: dict = {}

    def select(self, epoch: int) -> Selection:
        annealed = is_annealed(epoch, self.epochs, self.anneal)
        cand = (np.zeros(self.n, dtype=bool) if annealed or self.ratio == 0.0
                else below_mean(self.memory.loss, self.memory.seen))
        n_cand = int(cand.sum())
        if n_cand == 0:
            self._info = {"annealed": annealed, "candidates": 0, "kept_fraction": 1.0,
                          "expected_kept_fraction": 1.0}
            return self.full()
        u = self.rng(epoch).random(self.n)
        keep = ~cand | (u >= self.ratio)
        idx = np.flatnonzero(keep)
        w = np.where(cand[idx], 1.0 / (1.0 - self.ratio), 1.0)
        self._info = {"annealed": False, "candidates": n_cand, "kept_fraction": idx.size / self.n,
                      "expected_kept_fraction": 1.0 - self.ratio * n_cand / self.n}
        return Selection(idx, w)

    def update(self, indices, losses, el2n=None) -> None:
        self.memory.update(indices, losses)

    def extra_info(self) -> dict:
        return dict(self._info)
