"""``static``: score every sample once, then train on one fixed subset of k = round((1 - r) n).

Scores (``score``):

- ``loss``: mean per-sample training loss over ``warmup_epochs`` full-data epochs;
- ``el2n``: mean per-sample squared error (EL2N, Paul et al. 2021) over the warm-up;
- ``complexity``: the intrinsic complexity c_i (pruning.complexity), no warm-up
  (``warmup_epochs`` is then ignored and the subset is used from epoch 0).

Subsets (``keep``), O(n) each:

- ``hardest``: the k highest scores; ``easiest``: the k lowest (argpartition);
- ``stratified`` (CCS-style, Zheng et al. 2023): the scores are cut into ``bins``
  quantile bins; the budget is shared equally over the bins, visiting them from the
  smallest (a bin smaller than its share gives away the rest), and each bin's share is
  drawn uniformly at random (``rng(0)``).

Every kept sample has weight 1.

Budget mode (budget b): the warm-up epochs are full data, counted against the budget;
the fixed subset has k = round(R / m) samples, where R = round(b E n) - n W is what the
W warm-up epochs leave for the m = E - W others (``budget_counts``), so the run spends
b E n passes within one window per epoch.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from stbench.registry import Registry

from .base import PruneContext, Pruner, Selection, register_pruner
from .complexity import TEMPORAL_TERMS, context_complexity
from .schedule import LossMemory, ParamCheck, kept_count, static_count
from .stationarity import quantile_strata

SCORES = ("loss", "el2n", "complexity")
KEEP_RULES: Registry = Registry("static keep rule")


@KEEP_RULES.register("hardest")
def keep_hardest(score: np.ndarray, k: int, bins: int, rng: np.random.Generator) -> np.ndarray:
    return np.argpartition(-score, k - 1)[:k] if k < score.size else np.arange(score.size)


@KEEP_RULES.register("easiest")
def keep_easiest(score: np.ndarray, k: int, bins: int, rng: np.random.Generator) -> np.ndarray:
    return np.argpartition(score, k - 1)[:k] if k < score.size else np.arange(score.size)


@KEEP_RULES.register("stratified")
def keep_stratified(score: np.ndarray, k: int, bins: int, rng: np.random.Generator) -> np.ndarray:
    """Equal counts from ``bins`` score-quantile bins (budget passed on by small bins)."""
    strata = quantile_strata(score, bins)
    order = np.argsort(strata, kind="stable")                 # members of each bin, contiguous
    sizes = np.bincount(strata, minlength=bins)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    picked, budget = [], int(k)
    by_size = np.argsort(sizes, kind="stable")
    for pos, b in enumerate(by_size):                          # bins, not samples
        share = min(int(sizes[b]), budget // (bins - pos))
        members = order[offsets[b]:offsets[b + 1]]
        picked.append(rng.choice(members, size=share, replace=False))
        budget -= share
    if budget > 0:  # rounding left-overs: random samples not picked yet
        rest = np.setdiff1d(np.arange(score.size), np.concatenate(picked))
        picked.append(rng.choice(rest, size=budget, replace=False))
    return np.concatenate(picked)


@register_pruner("static")
class StaticPruner(Pruner):
    """A fixed subset chosen once from loss, EL2N or complexity scores (module doc)."""

    dynamic = False

    def __init__(self, context: PruneContext, ratio: float = 0.5, budget: Optional[float] = None, *,
                 score: str = "loss", keep: str = "hardest", warmup_epochs: int = 1, bins: int = 10,
                 temporal: str = "diff_energy", spatial_weight: float = 0.5, **unknown):
        chk = ParamCheck.for_pruner(self, context, unknown)
        super().__init__(context, chk.ratio(ratio), budget)
        self.score_kind = chk.choice("score", score, SCORES)
        self.wants_el2n = self.score_kind == "el2n"
        self.keep = chk.choice("keep", keep, KEEP_RULES.names())
        self.warmup_epochs = chk.integer("warmup_epochs", warmup_epochs, lo=1)
        self.bins = chk.integer("bins", bins, lo=1)
        self.temporal = chk.choice("temporal", temporal, TEMPORAL_TERMS.names())
        self.spatial_weight = chk.number("spatial_weight", spatial_weight, 0.0, 1.0)
        self.k = kept_count(self.n, self.ratio)
        self._sum = np.zeros(self.n)
        self._count = np.zeros(self.n)
        self._epoch = -1
        self._check = LossMemory(self.n, "static")
        self.scores = None
        self.subset = None
        if self.score_kind == "complexity":
            self.warmup_epochs = 0
            self.scores = context_complexity(context, self.temporal, self.spatial_weight, who="static")
        if self.budget is not None:
            warm = np.arange(self.epochs) < self.warmup_epochs
            self.plan_budget(np.flatnonzero(warm))
            self.k = static_count(self.planned_counts, warm)
            self.planned_counts[~warm] = self.k

    @classmethod
    def budget_mode(cls, params: dict) -> str:
        return "exact"

    def _choose(self) -> np.ndarray:
        if self.scores is None:
            if not (self._count > 0).any():
                raise RuntimeError(f"static pruner (score={self.score_kind}): no {self.score_kind} values "
                                   f"were received during the {self.warmup_epochs} warm-up epoch(s); "
                                   "the engine must call update() with them")
            mean = self._sum / np.maximum(self._count, 1)
            # a sample never scored (should not happen after full-data epochs) gets the mean score
            self.scores = np.where(self._count > 0, mean, mean[self._count > 0].mean())
        if (self.ratio == 0.0 if self.budget is None else self.k >= self.n):
            return np.arange(self.n)
        return np.sort(KEEP_RULES.get(self.keep)(self.scores, self.k, self.bins, self.rng(0)))

    def select(self, epoch: int) -> Selection:
        self._epoch = int(epoch)
        if epoch < self.warmup_epochs:
            return self.full()
        if self.subset is None:
            self.subset = self._choose()
        return Selection(self.subset, np.ones(self.subset.size, dtype=np.float32))

    def update(self, indices, losses, el2n=None) -> None:
        if self.subset is not None or self._epoch >= self.warmup_epochs:
            return
        values = el2n if self.score_kind == "el2n" else losses
        if values is None:
            raise ValueError("static pruner (score=el2n): update() got el2n=None during the warm-up")
        idx, val = self._check.checked(indices, values, self.score_kind)
        ok = np.isfinite(val)
        self._sum += np.bincount(idx[ok], weights=val[ok], minlength=self.n)
        self._count += np.bincount(idx[ok], minlength=self.n)

    def extra_info(self) -> dict:
        warm = self.subset is None
        info = {"warmup": warm, "kept_fraction": 1.0 if warm else self.subset.size / self.n}
        if self.budget is not None:
            info["target_count"] = self.n if warm else self.k
        return info
