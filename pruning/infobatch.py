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

Budgeted form (``budgeted: true``, this suite's extension; needs a compute budget b):
planned counts k_e = budget_counts(n, E, b, full_epochs={0}, shape=anneal_shape(E, delta))
(epoch 0 has no losses: full data; from the anneal point on up to ANNEAL_BOOST k_e, capped
at n). In every epoch e >= 1::

    C_e  = below-mean latest losses (as above)
    D_e  = n - k_e + carry_e                       drop quota, carry_1 = 0
    d_e  = min(D_e, |C_e|)                         candidates dropped, uniformly without
                                                   replacement (rng(e))
    w_i  = |C_e| / (|C_e| - d_e) for kept candidates, 1 for every other sample
    carry_{e+1} = D_e - d_e                        deficit, carried to the next epoch

Given d_e < |C_e| the kept candidates are a uniform subset, so E[sum w_i l_i] = sum_i l_i.
These are the ``weights: unbiased`` weights; ``normalised`` (default of the budgeted form)
rescales the epoch's kept weights to mean 1, ``none`` sets 1 (pruning.schedule.WEIGHT_MODES).
When the quota takes every candidate (d_e = |C_e|) their loss mass is dropped, as in a
hard prune. A deficit left after the last epoch is a shortfall: the run's measured
passes show the budget it reached (above b), never b itself.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .base import PruneContext, Pruner, Selection, register_pruner
from .schedule import WEIGHT_MODES, LossMemory, ParamCheck, anneal_shape, is_annealed, weigh


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

    def __init__(self, context: PruneContext, ratio: float = 0.5, budget: Optional[float] = None, *,
                 anneal: Optional[float] = 0.875, budgeted: bool = False, weights: str = "normalised",
                 **unknown):
        chk = ParamCheck.for_pruner(self, context, unknown)
        self.budgeted = chk.boolean("budgeted", budgeted)
        super().__init__(context, chk.ratio(ratio), budget)
        if self.budgeted and self.budget is None:
            raise chk.fail("budgeted", budgeted,
                           "false in ratio mode (budgeted: true needs a compute budget)")
        self.anneal = chk.anneal(anneal)
        self.weight_mode = chk.choice("weights", weights, WEIGHT_MODES.names())   # budgeted form only
        self.memory = LossMemory(self.n, "infobatch")
        self._info: dict = {}
        if self.budget is not None:
            self.plan_budget([0], anneal_shape(self.epochs, self.anneal))
        self._carry = {1: 0}                               # deficit carried into epoch e

    @classmethod
    def budget_mode(cls, params: dict) -> str:
        return "exact" if params.get("budgeted") is True else "native"

    def budget_params(self) -> dict:
        return {"budgeted": self.budgeted}

    def select(self, epoch: int) -> Selection:
        if self.budget is not None:
            return self._select_budget(int(epoch))
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

    def _select_budget(self, epoch: int) -> Selection:
        """Budgeted form (module doc): drop exactly min(D_e, |C_e|) below-mean candidates."""
        k = int(self.planned_counts[min(epoch, self.epochs - 1)])
        annealed = is_annealed(epoch, self.epochs, self.anneal)
        if epoch < 1:
            self._info = {"annealed": False, "candidates": 0, "kept_fraction": 1.0,
                          "expected_kept_fraction": 1.0, "target_count": k, "deficit": 0}
            return self.full()
        carry = self._carry.get(epoch, self._carry[max(self._carry)])
        quota = self.n - k + carry
        cand = np.flatnonzero(below_mean(self.memory.loss, self.memory.seen)) if quota > 0 \
            else np.zeros(0, dtype=np.int64)
        d = min(quota, cand.size)
        self._carry = {epoch: carry, epoch + 1: quota - d}
        keep = np.ones(self.n, dtype=bool)
        w = np.ones(self.n)
        if d > 0:
            keep[self.rng(epoch).choice(cand, size=d, replace=False)] = False
            if d < cand.size:
                w[cand] = cand.size / (cand.size - d)
        idx = np.flatnonzero(keep)
        self._info = {"annealed": annealed, "candidates": int(cand.size), "kept_fraction": idx.size / self.n,
                      "expected_kept_fraction": idx.size / self.n, "target_count": k,
                      "deficit": int(quota - d)}
        return Selection(idx, weigh(w[idx], self.weight_mode))

    def update(self, indices, losses, el2n=None) -> None:
        self.memory.update(indices, losses)

    def extra_info(self) -> dict:
        return dict(self._info)
