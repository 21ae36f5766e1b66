"""``stprune``: ST-Prune, the reconstruction of ../shared/reference/stprune.md.

Every component is a switch (YAML ``configs/pruners/stprune.yaml``):

1. Intrinsic complexity c_i in [0, 1], once before training (pruning.complexity:
   rank-normalised temporal term ``temporal`` and graph total variation, mixed by
   ``spatial_weight``).
2. Learning state l_i: the latest training loss of sample i (epoch 0 is full data).
3. Score  ``s_i = (1 - lam) * T(l)_i + lam * c_i``  with ``T = rank`` (average ranks
   scaled to [0, 1]) or ``value`` (min-max scaled losses); ``use_complexity: false``
   sets lam = 0 (loss only, InfoBatch-like), ``use_loss: false`` sets lam = 1.
4. Selection in epochs 1 .. A - 1, A = ceil(delta E) (``anneal``): candidates are the
   samples with ``s_i < mean(s)`` (``candidates: below_mean``) or every sample
   (``all``); each candidate is dropped independently with probability r_e (r decayed
   by ``ratio_decay``, pruning.schedule).
5. Rescaling of kept candidates (``rescale``):
   - ``stationarity``: windows are split once into K = ``strata`` quantile strata of the
     stationarity statistic psi (pruning.stationarity). In stratum k with C_k
     candidates and K_k kept candidates, each kept candidate gets w = C_k / K_k, so the
     stratum's total candidate weight stays exactly C_k. If every candidate of a stratum
     was dropped (K_k = 0 < C_k), the candidate with the largest draw u_i (a uniformly
     random one) is kept with weight C_k: the kept fraction rises by at most K / n.
     Given K_k = m >= 1 the kept set is a uniform m-subset of C_k, so
     E[sum_{kept} w_i l_i] = sum_i l_i (unbiased).
   - ``global``: w = 1 / (1 - r_e) (InfoBatch's rescaling).
   - ``none``: w = 1.
   Non-candidates always have weight 1.
6. Annealing: epoch 0 and every epoch e >= delta * E train on all samples with w = 1.

With ``use_complexity: false, loss_transform: value, rescale: global`` the candidate set
and weights equal InfoBatch's (only the random draws differ).
Per-epoch cost: O(n) array work, plus one O(n log n) sort for ``loss_transform: rank``.

Budgeted form (``budgeted: true``, needs a compute budget b; this suite's reading of the
paper, ../shared/reference/budget.md "ST-Prune, budgeted": it can reach the claimed 6x
while keeping the four components). Steps 4-6 become:

4'. Plan: k_e = budget_counts(n, E, b, full_epochs={0}, shape=anneal_shape(E, delta)):
    epoch 0 is full data (it initialises the learning state); the other epochs share the
    rest of the budget, epochs e >= ceil(delta E) with ANNEAL_BOOST = 2 times the share of
    the earlier ones (capped at n: the annealing forwards up to twice as much, the full
    data when the budget affords it); ``anneal: null`` shares it uniformly. With a batch
    size in the context (``train.equal_steps``) the counts are step-matched (Pruner.plan_budget).
5'. Epoch e >= 1 keeps exactly k_e windows. Strata: the K stationarity strata when
    ``rescale: stationarity``, else one stratum of all n windows. The drop quota
    D = n - k_e is split over the strata in proportion to their sizes n_k by largest
    remainder (ties: lower stratum first), D_k <= n_k; stratum k keeps m_k = n_k - D_k.
    ``budget_rule: sample`` (default; the score decides at every budget): in stratum k,
    with q_i = rank01(s_i) the rank of window i's blended score among the stratum's members
    (average ranks scaled to [0, 1]; ``candidates: all``: q_i = 0, no score) and tilt t >= 0
    (``tilt``)::

        a_i  = 1 + t q_i                                  sampling weight, increasing in s_i
        pi_i = min(1, c_k a_i),  c_k such that sum_{i in k} pi_i = m_k   (water-filled)

    and the m_k kept windows are drawn without replacement with exactly these inclusion
    probabilities by systematic sampling in a random order (a permutation of the stratum
    and one offset u ~ U(0, 1) from rng(e); window i is kept iff an integer j has
    C_{i-1} <= u + j < C_i, C the cumulative pi in that order): P(i kept) = pi_i, exactly
    m_k kept. The best-scored window of a stratum is up to 1 + t times as likely to be kept
    as the worst; reversing the ranking reverses the probabilities.
    ``budget_rule: pool`` (the first budget study's rule, kept to reproduce it): the pool
    C_k is the min(n_k, max(2 D_k, ceil(n_k / 2))) lowest-scored members, D_k of them dropped
    uniformly at random. Once D_k >= n_k / 2 (every budget <= 1/2) the pool is the whole
    stratum and the drop is uniform: the scores decide nothing there.
6'. Weights of the kept windows, before the weight mode: ``sample``: w_i = 1 / pi_i
    (Horvitz-Thompson: E[sum_{kept} w_i l_i] = sum_i l_i; windows with pi_i = 1 weigh 1);
    ``pool``: |C_k| / (|C_k| - D_k) for kept pool members, 1 for the others.
    ``rescale: none`` sets w = 1. Then ``weights`` (pruning.schedule.WEIGHT_MODES):
    ``unbiased`` keeps w, ``normalised`` (default) rescales the epoch's kept weights to mean 1,
    ``none`` sets 1. If a quota empties its stratum (D_k = n_k, only at extreme budgets)
    that stratum's loss mass is dropped.
``ratio_decay`` must be ``none`` (the plan shapes the counts); an epoch with k_e = n
(epoch 0, budget 1, annealed epochs the budget affords) is full data with weight 1.
Per pruned epoch: O(n log n) (ranks and one permutation per stratum).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from stbench.registry import Registry

from .base import PruneContext, Pruner, Selection, register_pruner
from .complexity import TEMPORAL_TERMS, context_complexity, rank01
from .infobatch import below_mean
from .schedule import (RATIO_DECAYS, WEIGHT_MODES, LossMemory, ParamCheck, anneal_shape, is_annealed,
                       ratio_at, weigh)
from .stationarity import context_stationarity, quantile_strata

LOSS_TRANSFORMS: Registry = Registry("loss transform")
CANDIDATES: Registry = Registry("candidate rule")
RESCALES: Registry = Registry("rescaling")
BUDGET_RULES = ("sample", "pool")


def inclusion_probabilities(a: np.ndarray, m: int) -> np.ndarray:
    """(N,) pi_i = min(1, c a_i) with sum_i pi_i = m, for weights a (N,) > 0 and 0 <= m <= N.

    Water-filling: with a sorted in decreasing order and j windows capped at 1,
    c_j = (m - j) / sum_{i >= j} a_(i); j is the smallest count with c_j a_(j) <= 1. O(N log N).
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    size, m = a.size, int(m)
    if m >= size:
        return np.ones(size)
    if m <= 0:
        return np.zeros(size)
    order = np.argsort(-a, kind="stable")
    a_s = a[order]
    suffix = np.cumsum(a_s[::-1])[::-1]                      # suffix[j] = sum_{i >= j} a_s[i]
    c = (m - np.arange(m)) / suffix[:m]
    j = int(np.argmax(c * a_s[:m] <= 1.0 + 1e-12))            # exists: j = m - 1 always fits
    pi_s = np.minimum(1.0, c[j] * a_s)
    pi_s[:j] = 1.0
    pi = np.empty(size)
    pi[order] = pi_s
    return pi


def systematic_sample(pi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Positions of m = round(sum pi) distinct units drawn with inclusion probabilities pi (N,)
    in [0, 1]: systematic sampling in a random order (one permutation and one offset from
    ``rng``): unit i is drawn iff some integer j has C_{i-1} <= u + j < C_i, C the cumulative pi
    in the permuted order, so P(i drawn) = pi_i and exactly m units are drawn. Sorted output."""
    pi = np.asarray(pi, dtype=np.float64).reshape(-1)
    m = int(round(pi.sum()))
    perm = rng.permutation(pi.size)
    u = rng.random()
    if m <= 0:
        return np.zeros(0, dtype=np.int64)
    cum = np.cumsum(pi[perm])
    cum *= m / cum[-1]
    pos = np.minimum(np.searchsorted(cum, u + np.arange(m), side="right"), pi.size - 1)
    chosen = np.unique(perm[pos])
    if chosen.size < m:                       # only by floating-point ties at pi_i = 1
        rest = np.setdiff1d(np.arange(pi.size), chosen)
        chosen = np.sort(np.concatenate([chosen, rest[np.argsort(-pi[rest], kind="stable")[:m - chosen.size]]]))
    return chosen


@LOSS_TRANSFORMS.register("rank")
def _rank(loss: np.ndarray) -> np.ndarray:
    return rank01(loss)


@LOSS_TRANSFORMS.register("value")
def _minmax(loss: np.ndarray) -> np.ndarray:
    lo, hi = loss.min(), loss.max()
    return (loss - lo) / (hi - lo) if hi > lo else np.zeros_like(loss)


@CANDIDATES.register("below_mean")
def _below_mean(score: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    return below_mean(score, eligible)


@CANDIDATES.register("all")
def _all(score: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    return np.ones(score.shape, dtype=bool)


@RESCALES.register("none")
def _no_rescale(pruner: "STPrune", cand, keep, u, r) -> tuple[np.ndarray, int]:
    return np.ones(pruner.n), 0


@RESCALES.register("global")
def _global_rescale(pruner: "STPrune", cand, keep, u, r) -> tuple[np.ndarray, int]:
    return np.where(cand, 1.0 / (1.0 - r), 1.0), 0


@RESCALES.register("stationarity")
def _stationarity_rescale(pruner: "STPrune", cand, keep, u, r) -> tuple[np.ndarray, int]:
    """Weights C_k / K_k per stratum; rescues one candidate in strata emptied by the draw.

    Mutates ``keep`` for rescued samples; returns (weights (n,), number of rescues).
    """
    k = pruner.num_strata
    strata = pruner.strata
    n_cand = np.bincount(strata[cand], minlength=k)
    kept_cand = cand & keep
    n_kept = np.bincount(strata[kept_cand], minlength=k)
    empty = np.flatnonzero((n_cand > 0) & (n_kept == 0))
    for s in empty:                                           # strata, not samples
        members = np.flatnonzero(cand & (strata == s))
        pick = members[np.argmax(u[members])]
        keep[pick] = True
        kept_cand[pick] = True
        n_kept[s] = 1
    per_stratum = n_cand / np.maximum(n_kept, 1)
    return np.where(kept_cand, per_stratum[strata], 1.0), int(empty.size)


@register_pruner("stprune")
class STPrune(Pruner):
    """Complexity- and loss-scored soft pruning with stationarity-aware rescaling (module doc)."""

    def __init__(self, context: PruneContext, ratio: float = 0.5, budget: Optional[float] = None, *,
                 lam: float = 0.3,
                 use_loss: bool = True, use_complexity: bool = True, loss_transform: str = "rank",
                 temporal: str = "diff_energy", spatial_weight: float = 0.5,
                 candidates: str = "below_mean", rescale: str = "stationarity", strata: int = 4,
                 anneal: Optional[float] = 0.875, ratio_decay: str = "none", budgeted: bool = False,
                 budget_rule: str = "sample", tilt: float = 3.0, weights: str = "normalised",
                 **unknown):
        chk = ParamCheck.for_pruner(self, context, unknown)
        self.budgeted = chk.boolean("budgeted", budgeted)
        super().__init__(context, chk.ratio(ratio), budget)
        if self.budgeted and self.budget is None:
            raise chk.fail("budgeted", budgeted,
                           "false in ratio mode (budgeted: true needs a compute budget)")
        self.lam_param = chk.number("lam", lam, 0.0, 1.0)
        self.use_loss = chk.boolean("use_loss", use_loss)
        self.use_complexity = chk.boolean("use_complexity", use_complexity)
        self.loss_transform = chk.choice("loss_transform", loss_transform, LOSS_TRANSFORMS.names())
        self.temporal = chk.choice("temporal", temporal, TEMPORAL_TERMS.names())
        self.spatial_weight = chk.number("spatial_weight", spatial_weight, 0.0, 1.0)
        self.candidates = chk.choice("candidates", candidates, CANDIDATES.names())
        self.rescale = chk.choice("rescale", rescale, RESCALES.names())
        self.num_strata = chk.integer("strata", strata, lo=1)
        self.anneal = chk.anneal(anneal)
        self.ratio_decay = chk.choice("ratio_decay", ratio_decay, RATIO_DECAYS.names())
        self.budget_rule = chk.choice("budget_rule", budget_rule, BUDGET_RULES)
        self.tilt = chk.number("tilt", tilt, lo=0.0)
        self.weight_mode = chk.choice("weights", weights, WEIGHT_MODES.names())
        if not (self.use_loss or self.use_complexity) and self.candidates != "all":
            raise chk.fail("use_loss", use_loss, "true when use_complexity is false and candidates is "
                           "'below_mean' (the score needs the loss or the complexity)")
        self.lam = (self.lam_param if self.use_loss and self.use_complexity
                    else 1.0 if self.use_complexity else 0.0)
        if self.budget is not None and self.ratio_decay != "none":
            raise chk.fail("ratio_decay", ratio_decay, "none when budgeted is true (the budget plan "
                                                        "shapes the per-epoch counts)")
        prunes = self.ratio > 0 or self.budget is not None
        needs_score = self.candidates != "all" and prunes
        self.complexity: Optional[np.ndarray] = (
            context_complexity(context, self.temporal, self.spatial_weight, who="stprune")
            if needs_score and self.lam > 0 else None)
        self.psi: Optional[np.ndarray] = None
        self.strata = np.zeros(self.n, dtype=np.int64)
        if self.rescale == "stationarity" and prunes:
            self.psi = context_stationarity(context)
            self.strata = quantile_strata(self.psi, self.num_strata)
        self.memory = LossMemory(self.n, "stprune")
        self._info: dict = {}
        if self.budget is not None:
            self.plan_budget([0], anneal_shape(self.epochs, self.anneal))
            num = self.num_strata if self.rescale == "stationarity" else 1
            self._budget_strata = self.strata if num > 1 else np.zeros(self.n, dtype=np.int64)
            self._stratum_sizes = np.bincount(self._budget_strata, minlength=num)
            self._members = [np.flatnonzero(self._budget_strata == k) for k in range(num)]

    @classmethod
    def budget_mode(cls, params: dict) -> str:
        return "exact" if params.get("budgeted") is True else "native"

    def budget_params(self) -> dict:
        return {"budgeted": self.budgeted}

    # -- scoring
    def score(self) -> tuple[np.ndarray, np.ndarray]:
        """(s (n,), eligible (n,) bool): the blended score and which samples have one."""
        if self.lam >= 1.0:
            return self.complexity if self.complexity is not None else np.zeros(self.n), np.ones(self.n, bool)
        seen = self.memory.seen
        t = np.zeros(self.n)
        if seen.any():
            t[seen] = LOSS_TRANSFORMS.get(self.loss_transform)(self.memory.loss[seen])
        s = (1.0 - self.lam) * t
        if self.lam > 0:
            s = s + self.lam * self.complexity
        return s, seen

    def select(self, epoch: int) -> Selection:
        if self.budget is not None:
            return self._select_budget(int(epoch))
        annealed = is_annealed(epoch, self.epochs, self.anneal)
        r = 0.0 if epoch < 1 else ratio_at(epoch, self.ratio, self.epochs, self.anneal,
                                          self.ratio_decay, first=1)
        if annealed or r <= 0.0:
            self._info = {"annealed": annealed, "ratio": 0.0, "candidates": 0, "kept_fraction": 1.0,
                          "expected_kept_fraction": 1.0, "rescued_strata": 0}
            return self.full()
        if self.candidates == "all":
            cand = np.ones(self.n, dtype=bool)
        else:
            s, eligible = self.score()
            cand = CANDIDATES.get(self.candidates)(s, eligible)
        u = self.rng(epoch).random(self.n)
        keep = ~cand | (u >= r)
        w, rescued = RESCALES.get(self.rescale)(self, cand, keep, u, r)
        idx = np.flatnonzero(keep)
        n_cand = int(cand.sum())
        self._info = {"annealed": False, "ratio": r, "candidates": n_cand,
                      "kept_fraction": idx.size / self.n,
                      "expected_kept_fraction": 1.0 - r * n_cand / self.n, "rescued_strata": rescued}
        return Selection(idx, w[idx])

    # -- budgeted form (module doc, steps 4'-6')
    def stratum_quotas(self, drop: int) -> np.ndarray:
        """(K,) D_k: ``drop`` split over the strata in proportion to their sizes, largest remainder."""
        sizes = self._stratum_sizes
        exact = drop * sizes / self.n
        quota = np.floor(exact).astype(np.int64)
        order = np.argsort(-(exact - quota), kind="stable")
        quota[order[:drop - int(quota.sum())]] += 1
        return np.minimum(quota, sizes)

    def pools(self, quota: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(in_pool (n,) bool, pool sizes (K,)): the |C_k| lowest-scored members of each stratum."""
        sizes = self._stratum_sizes
        if self.candidates == "all":
            return np.ones(self.n, dtype=bool), sizes.copy()
        pool = np.minimum(sizes, np.maximum(2 * quota, -(-sizes // 2)))
        s, _ = self.score()
        order = np.argsort(s, kind="stable")                        # ties by window index
        order = order[np.argsort(self._budget_strata[order], kind="stable")]   # by stratum, then s
        start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        rank = np.empty(self.n, dtype=np.int64)                     # rank of a window in its stratum
        rank[order] = np.arange(self.n) - np.repeat(start, sizes)
        return rank < pool[self._budget_strata], pool

    def _select_budget(self, epoch: int) -> Selection:
        k = int(self.planned_counts[min(epoch, self.epochs - 1)])
        annealed = is_annealed(epoch, self.epochs, self.anneal)
        drop = self.n - k if epoch >= 1 else 0
        if drop <= 0:
            self._info = {"annealed": annealed, "ratio": 0.0, "candidates": 0, "kept_fraction": 1.0,
                          "expected_kept_fraction": 1.0, "rescued_strata": 0, "target_count": self.n}
            return self.full()
        quota = self.stratum_quotas(drop)
        rule = self._pool_rule if self.budget_rule == "pool" else self._sample_rule
        keep, w, cand = rule(epoch, quota)
        if self.rescale == "none":
            w = np.ones(self.n)
        idx = np.flatnonzero(keep)
        self._info = {"annealed": annealed, "ratio": drop / self.n, "candidates": cand,
                      "kept_fraction": idx.size / self.n, "expected_kept_fraction": k / self.n,
                      "rescued_strata": 0, "target_count": k}
        return Selection(idx, weigh(w[idx], self.weight_mode))

    def keep_probabilities(self, quota: np.ndarray) -> np.ndarray:
        """(n,) pi_i of ``budget_rule: sample`` (module doc, step 5') for drop quotas D_k (K,)."""
        s = self.score()[0] if self.candidates != "all" else None
        pi = np.ones(self.n)
        for k, members in enumerate(self._members):
            q = rank01(s[members]) if s is not None else np.zeros(members.size)
            pi[members] = inclusion_probabilities(1.0 + self.tilt * q, members.size - int(quota[k]))
        return pi

    def _sample_rule(self, epoch: int, quota: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """(keep (n,) bool, unbiased weights (n,), windows with pi < 1): steps 5'-6', ``sample``."""
        pi = self.keep_probabilities(quota)
        rng = self.rng(epoch)
        keep = np.zeros(self.n, dtype=bool)
        for members in self._members:                              # strata, not samples
            keep[members[systematic_sample(pi[members], rng)]] = True
        w = np.where(keep, 1.0 / np.maximum(pi, 1e-300), 1.0)
        return keep, w, int((pi < 1.0).sum())

    def _pool_rule(self, epoch: int, quota: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """(keep, weights, pool size): steps 5'-6', ``pool`` (the first budget study's rule)."""
        in_pool, pool = self.pools(quota)
        strata = self._budget_strata
        u = self.rng(epoch).random(self.n)
        # drop the quota[k] pool members of stratum k with the smallest u: sort pool members by
        # (stratum, u) and drop those whose position within their stratum is below the quota
        members = np.flatnonzero(in_pool)
        by_u = members[np.argsort(u[members], kind="stable")]
        by_u = by_u[np.argsort(strata[by_u], kind="stable")]
        start = np.concatenate([[0], np.cumsum(pool)[:-1]])
        pos = np.arange(by_u.size) - np.repeat(start, pool)
        keep = np.ones(self.n, dtype=bool)
        keep[by_u[pos < quota[strata[by_u]]]] = False
        per_stratum = pool / np.maximum(pool - quota, 1)
        return keep, np.where(in_pool, per_stratum[strata], 1.0), int(pool.sum())

    def update(self, indices, losses, el2n=None) -> None:
        self.memory.update(indices, losses)

    def extra_info(self) -> dict:
        return dict(self._info)
