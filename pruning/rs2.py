"""``rs2``: repeated random sampling without replacement (Okanovic et al., ICLR 2024,
"Repeated random sampling for minimizing the time-to-accuracy of learning with data pruning").

The run walks through a sequence of random permutations pi_0, pi_1, ... of the n windows,
laid end to end as one stream; epoch e forwards the next k_e windows of the stream::

    k_e = round((1 - r) n)            (ratio mode, at least 1)
    k_e = planned_counts[e]           (budget mode: budget_counts(n, E, b), no full epochs)
    epoch e takes stream positions  o_e .. o_e + k_e - 1,   o_e = sum_{j < e} k_j,
    position p is window pi_q[p - q n],  q = p // n

so every window is seen once before any is seen twice. A new permutation is used only
when the current one is used up. An epoch that straddles the end of pi_{q-1} takes the
rest of it (the tail set S) and continues with pi_q, which is drawn so that it never
repeats an index within the epoch: pi_q = (a random order of the windows not in S, then a
random order of S). Both orders come from one generator seeded by (run seed, q, tag), so
the permutations are reproducible and do not depend on the order of ``select`` calls
(the offsets o_e are fixed by the plan). Every kept window has weight 1.

Cost: O(n) per new permutation (one per n forwarded windows), O(k_e) per epoch.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .base import PruneContext, Pruner, Selection, name_tag, register_pruner
from .schedule import ParamCheck, kept_count

PERMUTATION_TAG = name_tag("rs2/permutation")


@register_pruner("rs2")
class RS2(Pruner):
    """Each epoch the next k_e windows of a stream of random permutations (module doc)."""

    #: the selections depend on the run seed (tests/test_pruners.py reads this)
    randomized = True

    def __init__(self, context: PruneContext, ratio: float = 0.5, budget: Optional[float] = None,
                 **unknown):
        chk = ParamCheck.for_pruner(self, context, unknown)
        super().__init__(context, chk.ratio(ratio), budget)
        if self.budget is not None:
            self.plan_budget()
            counts = self.planned_counts
        else:
            counts = np.full(self.epochs, kept_count(self.n, self.ratio), dtype=np.int64)
        self._counts = counts
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._perms: dict[int, np.ndarray] = {}          # the last two permutations built
        self._info: dict = {}

    @classmethod
    def budget_mode(cls, params: dict) -> str:
        return "exact"

    # -- the stream
    def count(self, epoch: int) -> int:
        """k_e; past the planned epochs the last count repeats."""
        return int(self._counts[min(int(epoch), self.epochs - 1)])

    def offset(self, epoch: int) -> int:
        """o_e = sum_{j < e} k_j, the stream position of the epoch's first window."""
        e = int(epoch)
        if e <= self.epochs:
            return int(self._offsets[e])
        return int(self._offsets[-1]) + (e - self.epochs) * self.count(self.epochs - 1)

    def _straddle_tail(self, q: int) -> Optional[tuple[int, int]]:
        """Stream positions [start, q n) of the epoch that straddles the start of pi_q, or None."""
        boundary = q * self.n
        # the epoch whose range contains boundary - 1 (the last position of pi_{q-1})
        lo, hi = 0, max(self.epochs, 1)
        while self.offset(hi) < boundary:                # extend past the plan if needed
            hi *= 2
        while lo < hi:                                   # first epoch with offset(e + 1) >= boundary
            mid = (lo + hi) // 2
            if self.offset(mid + 1) >= boundary:
                hi = mid
            else:
                lo = mid + 1
        start = self.offset(lo)
        if start < boundary < start + self.count(lo):
            return start, boundary
        return None

    def permutation(self, q: int) -> np.ndarray:
        """pi_q (module doc). The last two are cached; pi_q depends on pi_{q-1} only through a
        straddling epoch's tail, so older ones are rebuilt in order from the nearest cached one."""
        q = int(q)
        done = [k for k in self._perms if k <= q]
        for j in range(max(done) + 1 if done else 0, q + 1):
            g = np.random.default_rng([int(self.ctx.seed), j, PERMUTATION_TAG])
            perm = g.permutation(self.n).astype(np.int64)
            tail = self._straddle_tail(j) if j > 0 else None
            if tail is not None:
                in_tail = np.zeros(self.n, dtype=bool)
                in_tail[self._perms[j - 1][tail[0] - (j - 1) * self.n:]] = True
                perm = np.concatenate([perm[~in_tail[perm]], perm[in_tail[perm]]])
            self._perms = {k: v for k, v in self._perms.items() if k == j - 1}
            self._perms[j] = perm
        return self._perms[q]

    def select(self, epoch: int) -> Selection:
        k, start = self.count(epoch), self.offset(epoch)
        q0, q1 = start // self.n, (start + k - 1) // self.n
        a = start - q0 * self.n
        if q0 == q1:
            idx = self.permutation(q0)[a:a + k]
        else:
            head = self.permutation(q0)[a:]
            idx = np.concatenate([head, self.permutation(q1)[:k - head.size]])
        self._info = {"kept_fraction": k / self.n, "permutation": q1}
        if self.budget is not None:
            self._info["target_count"] = k
        return Selection(np.sort(idx), np.ones(k, dtype=np.float32))

    def extra_info(self) -> dict:
        return dict(self._info)
