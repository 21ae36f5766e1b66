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
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from benchmarks.registry import Registry

from .base import PruneContext, Pruner, Selection, register_pruner
from .complexity import TEMPORAL_TERMS, context_complexity, rank01
from .infobatch import below_mean
from .schedule import RATIO_DECAYS, LossMemory, ParamCheck, is_annealed, ratio_at
from .stationarity import context_stationarity, quantile_strata

LOSS_TRANSFORMS: Registry = Registry("loss transform")
CANDIDATES: Registry = Registry("candidate rule")
RESCALES: Registry = Registry("rescaling")


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

    def __init__(self, context: PruneContext, ratio: float = 0.5, *, lam: float = 0.3,
                 use_loss: bool = True, use_complexity: bool = True, loss_transform: str = "rank",
                 temporal: str = "diff_energy", spatial_weight: float = 0.5,
                 candidates: str = "below_mean", rescale: str = "stationarity", strata: int = 4,
                 anneal: Optional[float] = 0.875, ratio_decay: str = "none", **unknown):
        chk = ParamCheck.for_pruner(self, context, unknown)
        super().__init__(context, chk.ratio(ratio))
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
        if not (self.use_loss or self.use_complexity) and self.candidates != "all":
            raise chk.fail("use_loss", use_loss, "true when use_complexity is false and candidates is "
                           "'below_mean' (the score needs the loss or the complexity)")
        self.lam = (self.lam_param if self.use_loss and self.use_complexity
                    else 1.0 if self.use_complexity else 0.0)
        needs_score = self.candidates != "all" and self.ratio > 0
        self.complexity: Optional[np.ndarray] = (
            context_complexity(context, self.temporal, self.spatial_weight, who="stprune")
            if needs_score and self.lam > 0 else None)
        self.psi: Optional[np.ndarray] = None
        self.strata = np.zeros(self.n, dtype=np.int64)
        if self.rescale == "stationarity" and self.ratio > 0:
            self.psi = context_stationarity(context)
            self.strata = quantile_strata(self.psi, self.num_strata)
        self.memory = LossMemory(self.n, "stprune")
        self._info: dict = {}

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

    def update(self, indices, losses, el2n=None) -> None:
        self.memory.update(indices, losses)

    def extra_info(self) -> dict:
        return dict(self._info)
