"""The plan-matched random control of a budgeted selector (``params.selection: random``).

A budgeted selector differs from the shortened-schedule control in its selection (which
windows), its plan (how many windows each epoch: a full epoch 0, annealed epochs, the full
E-epoch learning-rate schedule), its weights and its optimizer steps
(../shared/reference/budget.md "Attribution"). This control keeps everything but the
selection: in every epoch e it asks the selector (built with the same parameters, budget
and seed) for its Selection (indices I_e (k_e,), weights w_e (k_e,)), then trains on::

    J_e = a uniform random k_e-subset of 0..n-1           (without replacement, rng(e))
    v_e = a uniform random permutation of w_e             (the selector's weights, re-dealt)

so k_e, the weight multiset of every epoch (hence its sum, mean and spread), the full-data
and annealed epochs (k_e = n: the selector's own Selection, weight 1) and the schedule are
the selector's exactly; only which windows are kept is uniform. The selector's learning
state is updated with the losses of the windows the control forwards (``update`` is passed
on), so weights that depend on the state (unbiased Horvitz-Thompson weights) are those the
selector would give in the control's run. Its random stream is its own
(``rng(e)`` tagged ``<name>~random``), distinct from the selector's.

"selection effect" = selector vs this control; "plan effect" = this control vs the
shortened-schedule control (``full`` at the same budget). Built by ``build_pruner`` when
``selection: random`` is given with a budget to a strategy whose budget mode is ``exact``.
"""
from __future__ import annotations

import numpy as np

from .base import Pruner, Selection

#: the values of the ``selection`` parameter every budgeted selector accepts
SELECTIONS = ("score", "random")


class PlanMatchedRandom(Pruner):
    """Uniform random selection with the per-epoch counts and weights of a budgeted selector."""

    def __init__(self, inner: Pruner):
        if inner.budget is None or inner.planned_counts is None:
            raise ValueError(f"pruner {inner.registry_name!r}: params.selection must be 'score' "
                             f"without a compute budget ('random' is the plan-matched random "
                             f"control of a budgeted selector: give a budget)")
        self.inner = inner
        self.ctx = inner.ctx
        self.n, self.epochs = inner.n, inner.epochs
        self.ratio, self.budget = inner.ratio, inner.budget
        self.planned_counts = inner.planned_counts
        self.registry_name = f"{inner.registry_name}~random"   # names the random stream
        self.wants_el2n = inner.wants_el2n
        self._info: dict = {}

    @classmethod
    def budget_mode(cls, params: dict) -> str:
        return "exact"

    def select(self, epoch: int) -> Selection:
        sel = self.inner.select(epoch)
        k = int(sel.indices.size)
        self._info = {**dict(self.inner.extra_info() or {}), "selection": "random"}
        if k >= self.n:                                   # full data: the selector's own epoch
            return sel
        rng = self.rng(epoch)
        idx = np.sort(rng.choice(self.n, size=k, replace=False))
        return Selection(idx, rng.permutation(sel.weights))

    def update(self, indices, losses, el2n=None) -> None:
        self.inner.update(indices, losses, el2n=el2n)

    def extra_info(self) -> dict:
        return dict(self._info)
