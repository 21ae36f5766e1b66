"""Machinery shared by the strategies: epoch schedule, learning state, budgets, parameter checks.

Anneal point (InfoBatch's delta): with E epochs and ``anneal = delta`` in (0, 1],
epochs ``e >= A = ceil(delta * E)`` (i.e. every epoch with e >= delta * E, whether or
not delta * E is an integer) train on the full data with weight 1. ``anneal = None``
never anneals.

Ratio decay before the anneal point (pruned epochs e = first .. A - 1, progress
p = (e - first) / (A - first), so p = 0 on the first pruned epoch)::

    none:    r_e = r
    linear:  r_e = r * (1 - p)
    cosine:  r_e = r * (1 + cos(pi * p)) / 2

With ``anneal = None`` the decay runs over the whole run (A = E).

Compute budgets (``budget_counts``, docs/pruning.md "Budgets"): a run at budget b in (0, 1]
with E reference epochs and n windows may forward at most T = round(b E n) windows in
total; the planner turns T into per-epoch counts k_e.

Shortened schedules (``shorten_milestones``): the learning-rate milestones of the full-data
control at budget b, one rule for the engine and for ``pruning.shortened_schedule``.
The control trains E_b = max(1, round(b E)) epochs instead of E. Each milestone m of
``train.milestones`` is moved to the same place of the short one, and the moved milestones
are kept distinct and ordered::

    r_i = max(1, round(m_i E_b / E))          (the place of m_i in the short schedule)
    s_i = r_i                     when r_i >= E_b (it lands at the end: it never fires,
                                  as m_i = E never fires in the long schedule)
    s_i = max(r_i, s_{i-1} + 1)   otherwise (a milestone that lands on its predecessor's
                                  epoch moves to the next one)

so no two milestones share an epoch (MultiStepLR would decay by gamma^k there). When a
milestone so moved would reach E_b (the short schedule has too few epochs to hold the
milestones at distinct epochs, e.g. E = 12, [1, 5, 8] at b = 1/4 or 1/6), the documented
rule is the plain rounding ``min(E_b, r_i)``: the decays that share an epoch are merged
(gamma^k there), exactly as the budget study's committed controls were trained; the dry run
prints a note naming the cell (:func:`merged_note`), so it is never silent. Where no two
milestones land on one epoch the result is the plain rounding r_i.
"""
from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Callable, Iterable, List, Optional, Sequence

import numpy as np

from stbench.registry import Registry

RATIO_DECAYS: Registry = Registry("ratio decay")


@RATIO_DECAYS.register("none")
def _no_decay(p: float) -> float:
    return 1.0


@RATIO_DECAYS.register("linear")
def _linear_decay(p: float) -> float:
    return 1.0 - p


@RATIO_DECAYS.register("cosine")
def _cosine_decay(p: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * p))


def anneal_epoch(epochs: int, anneal: Optional[float]) -> Optional[int]:
    """First full-data epoch ceil(anneal * epochs), or None when ``anneal`` is None."""
    if anneal is None:
        return None
    return int(math.ceil(float(anneal) * int(epochs) - 1e-9))


def is_annealed(epoch: int, epochs: int, anneal: Optional[float]) -> bool:
    """True from epoch ceil(anneal * E) on (full data, weight 1)."""
    a = anneal_epoch(epochs, anneal)
    return a is not None and int(epoch) >= a


def ratio_at(epoch: int, ratio: float, epochs: int, anneal: Optional[float],
             decay: str = "none", first: int = 0) -> float:
    """Drop ratio of ``epoch`` (0 once annealed); ``first`` is the first pruned epoch."""
    if is_annealed(epoch, epochs, anneal):
        return 0.0
    end = anneal_epoch(epochs, anneal)
    end = int(epochs) if end is None else end
    span = max(1, end - int(first))
    p = min(max((int(epoch) - int(first)) / span, 0.0), 1.0)
    return float(ratio) * RATIO_DECAYS.get(decay)(p)


def kept_count(n: int, ratio: float) -> int:
    """Fixed budget of the top-k / subset strategies: round((1 - r) n), at least 1."""
    return max(1, min(int(n), int(round((1.0 - float(ratio)) * int(n)))))


# ----------------------------------------------------------------------------- budgets

#: Shape of the annealed epochs relative to the pruned ones in ``anneal_shape``: from the
#: anneal point on, an epoch forwards up to ANNEAL_BOOST times the windows of a
#: pre-anneal epoch (capped at n = full data).
ANNEAL_BOOST = 2.0


def _water_fill(total: int, shape: np.ndarray, cap: int) -> np.ndarray:
    """(m,) float x_e = clip(c s_e, 1, cap) with sum_e x_e = total, for m <= total <= m cap.

    g(c) = sum_e clip(c s_e, 1, cap) is continuous, piecewise linear and non-decreasing in
    c; its kinks are c = 1 / s_e and c = cap / s_e. g is evaluated at every kink and c is
    interpolated linearly inside the segment that contains ``total``. O(m^2) for m epochs.
    """
    m = shape.size
    if total >= m * cap:
        return np.full(m, float(cap))
    if total <= m:
        return np.ones(m)
    kinks = np.unique(np.concatenate([1.0 / shape, cap / shape]))
    g = np.clip(kinks[:, None] * shape[None, :], 1.0, cap).sum(1)
    j = int(np.searchsorted(g, total))                # g[j - 1] < total <= g[j]; 1 <= j < len
    lo, hi = kinks[j - 1], kinks[j]
    mid = 0.5 * (lo + hi) * shape
    free = (mid > 1.0) & (mid < cap)                  # x_e = c s_e on the whole segment
    c = lo + (total - g[j - 1]) / shape[free].sum()
    return np.clip(c * shape, 1.0, cap)


def _largest_remainder(x: np.ndarray, total: int, lo: int, hi: int) -> np.ndarray:
    """Integers k_e in [lo, hi] with sum total: floor(x_e), plus one for the largest
    fractional parts (ties: earlier entry first) until the sum is ``total``."""
    k = np.clip(np.floor(x + 1e-9), lo, hi).astype(np.int64)
    rest = int(total) - int(k.sum())
    if rest == 0:
        return k
    frac = x - k
    if rest > 0:
        order = np.argsort(-frac, kind="stable")
        order = order[k[order] < hi][:rest]
        k[order] += 1
    else:
        order = np.argsort(frac, kind="stable")
        order = order[k[order] > lo][:-rest]
        k[order] -= 1
    return k


def budget_counts(n: int, epochs: int, budget: float, full_epochs: Iterable[int] = (),
                  shape: Optional[np.ndarray] = None) -> np.ndarray:
    """(E,) int64 windows to forward per epoch so that the run spends the budget exactly.

    With T = round(b E n) and F = ``full_epochs`` (each forwards all n windows, counted
    against the budget), the remaining R = T - n |F| windows are spread over the m = E - |F|
    other epochs in proportion to ``shape`` s_e > 0 (default uniform), water-filled with
    the cap n::

        k_e = clip(c s_e, 1, n),   c such that sum_{e not in F} k_e = R,

    then rounded by largest remainder (ties: earlier epoch first) so that
    sum_e k_e = T exactly, 1 <= k_e <= n. Budget 1 gives k_e = n everywhere.

    Infeasible budgets (R < m: the full epochs alone spend T or more, or less than one
    window is left per other epoch) give the smallest feasible counts: n on F, 1 elsewhere.
    The caller records the budget reached, sum_e k_e / (E n); it is never another one silently.
    """
    n, epochs = int(n), int(epochs)
    if n < 1 or epochs < 1:
        raise ValueError(f"budget_counts: need n >= 1 and epochs >= 1, got n={n}, epochs={epochs}")
    b = float(budget)
    if not (0.0 < b <= 1.0) or not math.isfinite(b):
        raise ValueError(f"budget_counts: budget must be a number in (0, 1], got {budget!r}")
    full = np.zeros(epochs, dtype=bool)
    for e in full_epochs:
        if not 0 <= int(e) < epochs:
            raise ValueError(f"budget_counts: full epoch {e} outside 0..{epochs - 1}")
        full[int(e)] = True
    if shape is None:
        s = np.ones(epochs)
    else:
        s = np.asarray(shape, dtype=np.float64).reshape(-1)
        if s.shape != (epochs,) or not np.all(np.isfinite(s)) or not np.all(s[~full] > 0):
            raise ValueError(f"budget_counts: shape must be ({epochs},) finite and > 0 on the "
                             f"pruned epochs, got {shape!r}")
    counts = np.full(epochs, n, dtype=np.int64)
    m = int((~full).sum())
    if m == 0:
        return counts
    rest = int(round(b * epochs * n)) - n * (epochs - m)
    if rest <= m:                                     # infeasible (or exactly 1 each): minimal
        counts[~full] = 1
        return counts
    x = _water_fill(rest, s[~full], n)
    counts[~full] = _largest_remainder(x, rest, 1, n)
    return counts


def _bounded_fill(x: np.ndarray, total: int, lo: np.ndarray, hi: np.ndarray) -> Optional[np.ndarray]:
    """Integers k_e in [lo_e, hi_e] with sum ``total``, close to x (m,): k_e = clip(x_e + c, lo_e,
    hi_e) with the shift c found by bisection, then rounded by largest remainder (ties: earlier
    epoch first). None when sum lo > total or sum hi < total."""
    lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
    if lo.sum() > total or hi.sum() < total or np.any(lo > hi):
        return None
    a, b = -float(hi.max()) - float(np.abs(x).max()) - 1.0, float(hi.max()) + float(np.abs(x).max()) + 1.0
    for _ in range(200):                      # sum clip(x + c, lo, hi) is non-decreasing in c
        c = 0.5 * (a + b)
        a, b = (c, b) if np.clip(x + c, lo, hi).sum() < total else (a, c)
    y = np.clip(x + b, lo, hi)
    k = np.clip(np.floor(y + 1e-9), lo, hi).astype(np.int64)
    rest = int(total) - int(k.sum())
    order = np.argsort(-(y - k), kind="stable")
    while rest > 0:                           # at most a few rounds: room exists since sum hi >= total
        room = order[k[order] < hi[order]][:rest]
        k[room] += 1
        rest -= room.size
    while rest < 0:
        room = order[::-1][k[order[::-1]] > lo[order[::-1]]][:-rest]
        k[room] -= 1
        rest += room.size
    return k


def step_matched_counts(counts: np.ndarray, n: int, batch_size: int) -> np.ndarray:
    """(E,) int64 per-epoch counts with the same total T = sum_e k_e that take the optimizer
    steps of the shortened-schedule control at the same passes (issue 26, ``train.equal_steps``).

    With batch B and s(k) = ceil(k / B) steps for k windows, the control takes ceil(n / B)
    steps per n passes, so T passes are worth S = round(T ceil(n / B) / n) steps. Epochs with
    k_e = n (full data) keep it; the m other epochs share R passes and S_r = S - (E - m) ceil(n / B)
    steps: s_e proportional to k_e by cumulative rounding, s_e = round(C_e) - round(C_{e-1}) with
    C_e = sum_{j <= e} k_j S_r / R (so the fractional steps are spread evenly over the epochs;
    largest remainder instead if that leaves 1 <= s_e <= ceil((n - 1) / B)),
    then counts in ((s_e - 1) B, min(s_e B, n - 1)] closest to k_e (``_bounded_fill``), so
    sum_e k_e = T and sum_e s(k_e) = S exactly. If no such counts exist (tiny n or extreme
    budgets) the counts are returned unchanged (the run records the steps it took).
    """
    counts = np.asarray(counts, dtype=np.int64).copy()
    n, bsz = int(n), int(batch_size)
    if bsz < 1:
        raise ValueError(f"step_matched_counts: batch_size must be an integer >= 1, got {batch_size!r}")
    total = int(counts.sum())
    steps_full = -(-n // bsz)
    target = int(round(total * steps_full / n))
    free = counts < n
    m = int(free.sum())
    if m == 0:
        return counts
    rest_passes = int(counts[free].sum())
    rest_steps = target - (counts.size - m) * steps_full
    smax = max(1, -(-(n - 1) // bsz))
    x = counts[free].astype(np.float64)
    share = x * rest_steps / max(rest_passes, 1)              # real-valued steps per epoch
    cum = np.round(np.cumsum(share) + 1e-9).astype(np.int64)  # cumulative rounding: remainders spread
    steps = np.diff(np.concatenate([[0], cum]))               # evenly over the epochs, sum = rest_steps
    if steps.min() < 1 or steps.max() > smax or steps.sum() != rest_steps:
        steps = _bounded_fill(share, rest_steps, np.ones(m, dtype=np.int64), np.full(m, smax, dtype=np.int64))
    if steps is None:
        return counts
    k = _bounded_fill(x, rest_passes, (steps - 1) * bsz + 1, np.minimum(steps * bsz, n - 1))
    if k is None:
        return counts
    counts[free] = k
    return counts


def static_count(planned: np.ndarray, full: np.ndarray) -> int:
    """Size of one fixed subset used in every pruned epoch: round(R / m), at least 1, where
    R = sum of ``planned`` over the m epochs not in the (E,) bool mask ``full``; the run then
    spends R within m / 2 windows."""
    pruned = np.asarray(planned)[~np.asarray(full, dtype=bool)]
    return int(max(1, round(pruned.sum() / pruned.size))) if pruned.size else int(np.max(planned))


def anneal_shape(epochs: int, anneal: Optional[float], first: int = 1,
                 boost: float = ANNEAL_BOOST) -> np.ndarray:
    """(E,) float shape for ``budget_counts``: 1 before the anneal point A = ceil(anneal E),
    ``boost`` on every epoch e >= max(A, first) (``anneal_epoch``).

    Epochs before ``first`` (the first pruned epoch) are full-data epochs in the callers'
    plans; their entry (1) is ignored. ``anneal = None`` gives a uniform shape.
    """
    shape = np.ones(int(epochs))
    a = anneal_epoch(epochs, anneal)
    if a is not None:
        shape[max(a, int(first)):] = float(boost)
    return shape


# ----------------------------------------------------------------------------- weight modes

#: How a budgeted selector weighs the k_e windows it keeps in an epoch (``weights`` param;
#: w (k,) are the selector's own unbiased weights, e.g. Horvitz-Thompson 1 / pi_i):
#:   unbiased:   w_i                         E[sum_kept w_i l_i] = sum_i l_i (mean w ~ n / k_e)
#:   normalised: w_i k / sum_j w_j           mean 1 over the kept windows (relative weights kept,
#:                                           no change of the step size against the control)
#:   none:       1
WEIGHT_MODES: Registry = Registry("weight mode")


@WEIGHT_MODES.register("unbiased")
def _unbiased(w: np.ndarray) -> np.ndarray:
    return np.asarray(w, dtype=np.float64)


@WEIGHT_MODES.register("normalised")
def _normalised(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    total = w.sum()
    return w * (w.size / total) if w.size and total > 0 else np.ones_like(w)


@WEIGHT_MODES.register("none")
def _no_weights(w: np.ndarray) -> np.ndarray:
    return np.ones(np.shape(w), dtype=np.float64)


def weigh(w: np.ndarray, mode: str) -> np.ndarray:
    """(k,) the kept windows' weights ``w`` (k,) under weight mode ``mode`` (WEIGHT_MODES)."""
    return WEIGHT_MODES.get(mode)(w)


# ----------------------------------------------------------------------------- learning state

class LossMemory:
    """Latest per-sample training loss l_i (the learning state) and which samples have one.

    ``update`` overwrites the entries of the forwarded samples; non-finite losses are
    ignored (the previous value stays). O(k) per call for k forwarded samples.
    """

    def __init__(self, n: int, who: str = "pruner"):
        self.n = int(n)
        self.who = who
        self.loss = np.zeros(self.n, dtype=np.float64)
        self.seen = np.zeros(self.n, dtype=bool)

    def checked(self, indices, values, what: str = "losses"):
        """(indices int64, values float64) after shape and range checks."""
        idx = np.asarray(indices).reshape(-1)
        val = np.asarray(values, dtype=np.float64).reshape(-1)
        if idx.shape != val.shape:
            raise ValueError(f"{self.who}.update: {idx.size} indices but {val.size} {what}")
        if idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= self.n):
            raise ValueError(f"{self.who}.update: indices must be integers in [0, {self.n}), got "
                             f"dtype {idx.dtype}, range [{idx.min()}, {idx.max()}]")
        return idx.astype(np.int64, copy=False), val

    def update(self, indices, losses) -> None:
        idx, val = self.checked(indices, losses)
        ok = np.isfinite(val)
        self.loss[idx[ok]] = val[ok]
        self.seen[idx[ok]] = True


# ----------------------------------------------------------------------------- parameter checks

class ParamCheck:
    """Validates one strategy's parameters; every error names the strategy's YAML and the key.

    >>> chk = ParamCheck("stprune")
    >>> chk.number("lam", 0.5, lo=0.0, hi=1.0)
    0.5
    """

    def __init__(self, strategy: str):
        self.strategy = strategy
        self.where = f"configs/pruners/{strategy}.yaml"

    @classmethod
    def for_pruner(cls, pruner, context, unknown: dict) -> "ParamCheck":
        """Checker for ``pruner``; rejects unknown parameters and an empty context."""
        chk = cls(type(pruner).registry_name)
        chk.no_unknown(unknown, param_names(type(pruner).__init__))
        chk.context(context)
        return chk

    def fail(self, key: str, value, expected: str) -> ValueError:
        return ValueError(f"pruner {self.strategy!r} ({self.where}): params.{key} must be "
                          f"{expected}, got {value!r}")

    def number(self, key: str, value, lo: float = -math.inf, hi: float = math.inf,
               lo_open: bool = False, hi_open: bool = False) -> float:
        ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))
        if ok:
            v = float(value)
            ok = (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
        if not ok:
            lb, hb = "(" if lo_open else "[", ")" if hi_open else "]"
            raise self.fail(key, value, f"a number in {lb}{lo}, {hi}{hb}")
        return float(value)

    def integer(self, key: str, value, lo: int = 0, hi: Optional[int] = None) -> int:
        ok = isinstance(value, Integral) and not isinstance(value, bool) and value >= lo
        if ok and hi is not None:
            ok = value <= hi
        if not ok:
            rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
            raise self.fail(key, value, f"an integer {rng}")
        return int(value)

    def boolean(self, key: str, value) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, value, "true or false")
        return value

    def choice(self, key: str, value, choices: Iterable[str]) -> str:
        choices = list(choices)
        if not isinstance(value, str) or value.lower() not in choices:
            raise self.fail(key, value, f"one of {', '.join(choices)}")
        return value.lower()

    def anneal(self, value, key: str = "anneal") -> Optional[float]:
        """The anneal point delta in (0, 1], or None (never anneal)."""
        if value is None:
            return None
        return self.number(key, value, lo=0.0, hi=1.0, lo_open=True)

    def ratio(self, value) -> float:
        ok = isinstance(value, Real) and not isinstance(value, bool) and 0.0 <= float(value) < 1.0
        if not ok:
            raise ValueError(f"pruner {self.strategy!r}: prune ratio must be a number in [0, 1), "
                             f"got {value!r}")
        return float(value)

    def budget(self, value) -> Optional[float]:
        """A compute budget b in (0, 1] (fraction of the full-data run's sample passes), or None."""
        if value is None:
            return None
        ok = isinstance(value, Real) and not isinstance(value, bool) and 0.0 < float(value) <= 1.0
        if not ok:
            raise ValueError(f"pruner {self.strategy!r}: compute budget must be a number in (0, 1] "
                             f"(a fraction of the full-data run's sample passes), got {value!r}")
        return float(value)

    def context(self, ctx) -> None:
        if int(ctx.n) < 1:
            raise ValueError(f"pruner {self.strategy!r}: PruneContext.n must be >= 1, got {ctx.n}")
        if int(ctx.epochs) < 1:
            raise ValueError(f"pruner {self.strategy!r}: PruneContext.epochs must be >= 1, got {ctx.epochs}")

    def no_unknown(self, unknown: dict, valid: Iterable[str]) -> None:
        if unknown:
            raise TypeError(f"pruner {self.strategy!r} ({self.where}): unknown parameter(s) "
                            f"{sorted(unknown)}; valid: {', '.join(sorted(valid))}")


def param_names(init: Callable) -> list[str]:
    """Keyword-only parameter names of a pruner's ``__init__`` (its YAML ``params``)."""
    import inspect

    return [p.name for p in inspect.signature(init).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY]


# ----------------------------------------------------------------------------- shortened schedules
def shorten(epochs: int, budget: float, milestones: Sequence[int] = ()) -> tuple:
    """``(E_b, milestones_b)`` of the full-data control at budget b: E_b = max(1, round(b E))
    epochs and :func:`shorten_milestones` (see above). The engine (benchmarks/engine.py
    ``run_schedule``) and ``pruning.shortened_schedule`` both call this."""
    short = max(1, int(round(float(budget) * int(epochs))))
    return short, shorten_milestones(milestones, int(epochs), short, float(budget))


def shorten_milestones(milestones: Sequence[int], epochs: int, short: int, budget: float) -> List[int]:
    """The milestones of a schedule of ``short`` epochs standing for ``epochs`` (see above)."""
    places = [max(1, int(round(int(m) * short / epochs))) for m in sorted(milestones)]
    out: List[int] = []
    last = 0
    for r in places:
        if r >= short:  # lands at the end: never fires (the plain rounding, as before)
            out.append(short)
            continue
        s = max(r, last + 1)
        if s >= short:  # too few epochs to hold them apart: the plain rounding (merged decays)
            return [min(short, r) for r in places]
        out.append(s)
        last = s
    return out


def merged_note(milestones: Sequence[int], epochs: int, short: int, budget: float) -> str:
    """'' when the shortened milestones stay distinct, else the note the dry run prints."""
    got = shorten_milestones(milestones, epochs, short, budget)
    firing = [m for m in got if m < short]
    if len(firing) == len(set(firing)):
        return ""
    return (f"strategy full at budget {budget:g}: its shortened schedule has {short} epoch(s) (round(b E), "
            f"E = {epochs}), too few to hold the learning-rate milestones {sorted(milestones)} at distinct "
            f"epochs: they are merged at {got} (gamma^k where k decays share an epoch; pruning/schedule.py)")
