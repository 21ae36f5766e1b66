"""Bandit-style dynamic pruning (Raju, Daruwalla & Lipasti 2021, "Accelerating deep learning
with dynamic data pruning"): every epoch keep a budget of k = round((1 - r) n) samples
(at least 1) with the highest score, weight 1. Scores of dropped samples are not
refreshed (they were not forwarded), which is what makes exploration necessary.

- ``epsilon_greedy``: score = latest loss. ``round(epsilon * k)`` of the budget is drawn
  uniformly at random from the samples outside the exploited top ``k - round(epsilon k)``.
- ``ucb``: per-sample exponential moving averages of the loss (decay beta)::

      mu_i  <- mu_i + (1 - beta) (l_i - mu_i)
      var_i <- beta (var_i + (1 - beta) (l_i - mu_i_old)^2)      (first observation: mu = l, var = 0)
      score_i = mu_i + c * bonus_i
      bonus_i = sqrt(var_i)                                   (bonus: variance)
              = mean(mu) * sqrt(2 ln t / m_i)                 (bonus: count; t = epochs observed,
                                                               m_i = times sample i was observed)

Both train on the full data during the first ``warmup_epochs`` epochs (scores need
losses) and, with ``anneal: delta``, from epoch delta * E on. Top-k uses argpartition: O(n).

Budget mode (budget b): the warm-up and annealed epochs are full data, counted against
the budget; every other epoch e keeps k_e = planned_counts[e] samples,
``budget_counts(n, E, b, full_epochs=warm-up + annealed)``, by the same rule with k_e for k.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from stbench.registry import Registry

from .base import PruneContext, Pruner, Selection, register_pruner
from .schedule import LossMemory, ParamCheck, anneal_epoch, is_annealed, kept_count

UCB_BONUSES: Registry = Registry("UCB bonus")


def top_k(score: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores (unordered), O(n)."""
    if k >= score.size:
        return np.arange(score.size)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    return np.argpartition(-score, k - 1)[:k]


class BudgetPruner(Pruner):
    """Keeps the top-k of ``score()`` (subclasses) with warm-up and annealing."""

    def _setup(self, chk: ParamCheck, warmup_epochs, anneal) -> None:
        self.warmup_epochs = chk.integer("warmup_epochs", warmup_epochs, lo=1)
        self.anneal = chk.anneal(anneal)
        self.k = kept_count(self.n, self.ratio)
        self.memory = LossMemory(self.n, self.registry_name)
        self._info: dict = {}
        if self.budget is not None:
            e = np.arange(self.epochs)
            a = anneal_epoch(self.epochs, self.anneal)
            full = (e < self.warmup_epochs) | (e >= (self.epochs if a is None else a))
            self.plan_budget(np.flatnonzero(full))

    @classmethod
    def budget_mode(cls, params: dict) -> str:
        return "exact"

    def score(self) -> np.ndarray:
        raise NotImplementedError

    def choose(self, score: np.ndarray, epoch: int, k: int) -> np.ndarray:
        return top_k(score, k)

    def kept_at(self, epoch: int) -> int:
        """Samples to keep in ``epoch``: k (ratio mode) or planned_counts[epoch] (budget mode)."""
        if self.budget is None:
            return self.k if self.ratio > 0.0 else self.n
        return int(self.planned_counts[min(int(epoch), self.epochs - 1)])

    def select(self, epoch: int) -> Selection:
        annealed = is_annealed(epoch, self.epochs, self.anneal)
        k = self.kept_at(epoch)
        extra = {} if self.budget is None else {"target_count": k}   # n on warm-up / annealed epochs
        if annealed or epoch < self.warmup_epochs or k >= self.n:
            self._info = {"annealed": annealed, "warmup": epoch < self.warmup_epochs, "kept_fraction": 1.0,
                          **extra}
            return self.full()
        score = self.score()
        # never-observed samples (none after a full-data warm-up) are kept first
        score = np.where(self.memory.seen, score, np.inf)
        idx = np.sort(self.choose(score, epoch, k))
        self._info = {"annealed": False, "warmup": False, "kept_fraction": idx.size / self.n, **extra}
        return Selection(idx, np.ones(idx.size, dtype=np.float32))

    def extra_info(self) -> dict:
        return dict(self._info)


@register_pruner("epsilon_greedy")
class EpsilonGreedy(BudgetPruner):
    """Top-(1-eps)k latest losses plus eps k uniformly random others (module doc)."""

    def __init__(self, context: PruneContext, ratio: float = 0.5, budget: Optional[float] = None, *,
                 epsilon: float = 0.1, warmup_epochs: int = 1, anneal: Optional[float] = None,
                 **unknown):
        chk = ParamCheck.for_pruner(self, context, unknown)
        super().__init__(context, chk.ratio(ratio), budget)
        self.epsilon = chk.number("epsilon", epsilon, 0.0, 1.0)
        self._setup(chk, warmup_epochs, anneal)

    def score(self) -> np.ndarray:
        return self.memory.loss

    def choose(self, score: np.ndarray, epoch: int, k: int) -> np.ndarray:
        explore = int(round(self.epsilon * k))
        exploit = top_k(score, k - explore)
        if explore == 0:
            return exploit
        rest = np.ones(self.n, dtype=bool)
        rest[exploit] = False
        extra = self.rng(epoch).choice(np.flatnonzero(rest), size=explore, replace=False)
        return np.concatenate([exploit, extra])

    def update(self, indices, losses, el2n=None) -> None:
        self.memory.update(indices, losses)


@UCB_BONUSES.register("variance")
def _variance_bonus(p: "UCB") -> np.ndarray:
    return np.sqrt(p.var)


@UCB_BONUSES.register("count")
def _count_bonus(p: "UCB") -> np.ndarray:
    scale = p.mu[p.memory.seen].mean() if p.memory.seen.any() else 1.0
    return scale * np.sqrt(2.0 * np.log(max(p.rounds, 1)) / np.maximum(p.pulls, 1))


@register_pruner("ucb")
class UCB(BudgetPruner):
    """Top-k upper confidence bounds mu_i + c * bonus_i of each sample's loss (module doc)."""

    def __init__(self, context: PruneContext, ratio: float = 0.5, budget: Optional[float] = None, *,
                 c: float = 1.0, decay: float = 0.8, bonus: str = "variance", warmup_epochs: int = 1,
                 anneal: Optional[float] = None, **unknown):
        chk = ParamCheck.for_pruner(self, context, unknown)
        super().__init__(context, chk.ratio(ratio), budget)
        self.c = chk.number("c", c, lo=0.0)
        self.decay = chk.number("decay", decay, 0.0, 1.0, hi_open=True)
        self.bonus = chk.choice("bonus", bonus, UCB_BONUSES.names())
        self._setup(chk, warmup_epochs, anneal)
        self.mu = np.zeros(self.n)
        self.var = np.zeros(self.n)
        self.pulls = np.zeros(self.n)
        self.rounds = 0

    def score(self) -> np.ndarray:
        return self.mu + self.c * UCB_BONUSES.get(self.bonus)(self)

    def update(self, indices, losses, el2n=None) -> None:
        idx, val = self.memory.checked(indices, losses)
        ok = np.isfinite(val)
        idx, val = idx[ok], val[ok]
        first = ~self.memory.seen[idx]
        diff = val - self.mu[idx]
        b = self.decay
        self.mu[idx] = np.where(first, val, self.mu[idx] + (1.0 - b) * diff)
        self.var[idx] = np.where(first, 0.0, b * (self.var[idx] + (1.0 - b) * diff**2))
        self.pulls[idx] += 1.0
        self.memory.update(idx, val)
        self.rounds += 1
