"""Small statistics for reports: paired differences over seeds and their t intervals.

A comparison of two settings A and B of one workload pairs their runs by seed: the
per-seed differences ``d_s = a_s - b_s`` over the seeds both finished, then::

    mean = sum(d_s) / n
    half = t_{0.975, n-1} * std(d, ddof=1) / sqrt(n)        (95 % two-sided t interval)
    interval = [mean - half, mean + half]

With n = 1 there is no interval. :func:`fmt_interval` prints an interval that contains 0
as a *tie*; the reports judge comparisons with :func:`verdict` instead (better / worse /
equivalent / not resolved / underpowered at a margin, below), because a tie does not
exclude a loss larger than the margin. Multiplicity: :func:`adjust_pvalues` (Holm, BH,
registered in ADJUSTMENTS). Everything here is plain arithmetic on sorted inputs, so the
same numbers give the same text.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Hashable, Iterable, Mapping

import numpy as np
from scipy import stats as _sstats

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """Mean of n values and its two-sided t interval (lo = hi = NaN when n < 2)."""

    mean: float
    lo: float
    hi: float
    n: int

    @property
    def has_interval(self) -> bool:
        return self.n >= 2 and math.isfinite(self.lo) and math.isfinite(self.hi)

    @property
    def is_tie(self) -> bool:
        """True when the interval exists and contains 0."""
        return self.has_interval and self.lo <= 0.0 <= self.hi


EMPTY = Interval(float("nan"), float("nan"), float("nan"), 0)


def t_quantile(n: int, level: float = LEVEL) -> float:
    """``scipy.stats.t.ppf((1 + level) / 2, n - 1)``; NaN when n < 2."""
    if n < 2:
        return float("nan")
    return float(_sstats.t.ppf(0.5 + level / 2.0, n - 1))


def mean_interval(values: Iterable[float], level: float = LEVEL) -> Interval:
    """Mean and t interval of the finite ``values`` (in the order given; the sum is
    taken over the sorted values so that any order gives the same bits)."""
    v = np.sort(np.asarray([float(x) for x in values], dtype=float))
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return EMPTY
    mean = float(np.mean(v))
    if n == 1:
        return Interval(mean, float("nan"), float("nan"), 1)
    half = t_quantile(n, level) * float(np.std(v, ddof=1)) / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def paired_values(a: Mapping[Hashable, float], b: Mapping[Hashable, float]) -> Dict[Hashable, float]:
    """seed -> a[seed] - b[seed] over the seeds where both are finite, sorted by seed."""
    out = {}
    for seed in sorted(set(a) & set(b)):
        x, y = float(a[seed]), float(b[seed])
        if math.isfinite(x) and math.isfinite(y):
            out[seed] = x - y
    return out


def paired_difference(a: Mapping[Hashable, float], b: Mapping[Hashable, float],
                      level: float = LEVEL) -> Interval:
    """Mean and t interval of the per-seed differences a - b (paired by seed)."""
    return mean_interval(paired_values(a, b).values(), level)


def _num(value: float, decimals: int, signed: bool) -> str:
    text = f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"
    if float(text) == 0.0:  # no '-0.00'
        text = f"{0.0:+.{decimals}f}" if signed else f"{0.0:.{decimals}f}"
    return text


def fmt_interval(iv: Interval, decimals: int = 2, signed: bool = True, tie: bool = True) -> str:
    """Text of a difference: ``+0.46 [+0.20, +0.72]``; ``tie [-0.10, +0.30]`` when the
    interval contains 0 (and ``tie`` is set); ``+0.46 (n=1)`` without an interval;
    '' without values."""
    if iv.n == 0 or not math.isfinite(iv.mean):
        return ""
    if not iv.has_interval:
        return f"{_num(iv.mean, decimals, signed)} (n=1)"
    bounds = f"[{_num(iv.lo, decimals, signed)}, {_num(iv.hi, decimals, signed)}]"
    if tie and iv.is_tie:
        return f"tie {bounds}"
    return f"{_num(iv.mean, decimals, signed)} {bounds}"


# --- verdicts -------------------------------------------------------------------------
#
# A paired comparison ends in one of four words (reference/budget.md, "Verdicts"), with
# the margin delta stated (in the units of the differences, e.g. % of full@1's MAE):
#
#     better         hi < 0                       (the whole interval below 0)
#     worse          lo > 0                       (the whole interval above 0)
#     equivalent     -delta <= lo and hi <= delta (inside the margin; a 95 % interval is
#                                                  stricter than TOST's 90 %)
#     not resolved   otherwise
#
# and ``underpowered`` when fewer than MIN_SEEDS paired seeds exist: such a verdict is
# printed but never counted in a summary. ``p`` is the two-sided paired t-test p-value
# of mean != 0 (``scipy.stats.ttest_1samp``), the value a multiplicity adjustment takes.

BETTER, WORSE, EQUIVALENT, UNRESOLVED, UNDERPOWERED = (
    "better", "worse", "equivalent", "not resolved", "underpowered")
VERDICT_WORDS = (BETTER, WORSE, EQUIVALENT, UNRESOLVED, UNDERPOWERED)
MIN_SEEDS = 3
DEFAULT_MARGIN_PCT = 1.0


@dataclass(frozen=True)
class Verdict:
    """A paired comparison: its interval, the margin it was judged against, the word,
    and the unadjusted two-sided p-value (NaN without an interval)."""

    interval: Interval
    margin: float
    word: str
    p: float

    @property
    def counted(self) -> bool:
        """Whether a summary may count it (enough seeds for a verdict)."""
        return self.word != UNDERPOWERED and self.interval.n > 0


def classify(iv: Interval, margin: float, min_seeds: int = MIN_SEEDS) -> str:
    """The verdict word of an interval (see the table above)."""
    if iv.n < max(2, int(min_seeds)) or not iv.has_interval:
        return UNDERPOWERED
    if iv.hi < 0.0:
        return BETTER
    if iv.lo > 0.0:
        return WORSE
    if -margin <= iv.lo and iv.hi <= margin:
        return EQUIVALENT
    return UNRESOLVED


def t_pvalue(values: Iterable[float]) -> float:
    """Two-sided one-sample t-test p-value of mean != 0 over the finite values (NaN for
    fewer than 2; 1 when every value is 0; 0 for a constant non-zero difference)."""
    v = np.sort(np.asarray([float(x) for x in values], dtype=float))
    v = v[np.isfinite(v)]
    if v.size < 2:
        return float("nan")
    if float(np.std(v, ddof=1)) == 0.0:
        return 1.0 if float(np.mean(v)) == 0.0 else 0.0
    return float(_sstats.ttest_1samp(v, 0.0).pvalue)


def verdict(diffs: Iterable[float], margin: float = DEFAULT_MARGIN_PCT, level: float = LEVEL,
            min_seeds: int = MIN_SEEDS) -> Verdict:
    """Verdict of the per-seed paired differences ``diffs`` against the margin."""
    values = [float(x) for x in diffs]
    iv = mean_interval(values, level)
    return Verdict(iv, float(margin), classify(iv, margin, min_seeds), t_pvalue(values))


#: p-value adjustments by name (``adjust_pvalues(ps, name)``); each takes the finite
#: p-values of one family and returns the adjusted ones in the same order
ADJUSTMENTS: Dict[str, Callable[[np.ndarray], np.ndarray]] = {}
DEFAULT_ADJUST = "holm"


def register_adjustment(name: str):
    """Decorator: register a p-value adjustment under ``name``."""
    def wrap(fn):
        ADJUSTMENTS[name] = fn
        return fn
    return wrap


@register_adjustment("holm")
def _holm(q: np.ndarray) -> np.ndarray:
    """Holm's step-down: the i-th smallest of m p-values becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``."""
    m = q.size
    order = np.argsort(q, kind="stable")
    stepped = np.minimum(1.0, np.maximum.accumulate(q[order] * (m - np.arange(m))))
    adj = np.empty(m)
    adj[order] = stepped
    return adj


@register_adjustment("bh")
def _bh(q: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg: the i-th smallest becomes ``min_{j >= i} min(1, m p_(j) / j)``
    (``scipy.stats.false_discovery_control(q, method="bh")``)."""
    return np.asarray(_sstats.false_discovery_control(q, method="bh"), dtype=float)


def adjust_pvalues(pvalues: Iterable[float], method: str = "holm") -> np.ndarray:
    """Multiplicity-adjusted p-values over one family of comparisons.

    ``holm``: step-down, p_(i) * (m - i + 1) for the i-th smallest, made monotone and
    capped at 1. ``bh``: Benjamini-Hochberg, ``scipy.stats.false_discovery_control``.
    NaN entries stay NaN and do not count in m."""
    if method not in ADJUSTMENTS:
        raise ValueError(f"unknown p-value adjustment {method!r}; valid choices: {', '.join(sorted(ADJUSTMENTS))}")
    p = np.asarray([float(x) for x in pvalues], dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = ADJUSTMENTS[method](p[ok])
    return out


# --- verdicts after the adjustment ------------------------------------------------------
#
# A better / worse verdict *survives* when its adjusted p-value is below alpha = 1 - level
# (the interval and the t-test are dual: the unadjusted p < alpha exactly when the interval
# excludes 0). One that does not survive is read as what its interval still shows without
# the sign: equivalent when the interval lies inside the margin, else not resolved.
# Equivalence is judged on the interval alone (two one-sided tests at (1 - level) / 2 each,
# stricter than TOST at 5 %) and is not adjusted.

def alpha_of(level: float = LEVEL) -> float:
    """The two-sided error rate of an interval at ``level``: ``1 - level``."""
    return 1.0 - float(level)


def survives(v: Verdict, p_adj: float, level: float = LEVEL) -> bool:
    """True for a better / worse verdict whose adjusted p-value is below ``1 - level``."""
    return v.word in (BETTER, WORSE) and math.isfinite(p_adj) and p_adj < alpha_of(level)


def final_word(v: Verdict, p_adj: float, level: float = LEVEL) -> str:
    """The word a summary counts: better / worse only when they survive the adjustment
    (``p_adj`` NaN: no adjustment, the unadjusted p decides); otherwise equivalent when
    the interval lies inside [-margin, +margin], else not resolved; underpowered stays."""
    if v.word not in (BETTER, WORSE):
        return v.word
    p = p_adj if math.isfinite(p_adj) else v.p
    if math.isfinite(p) and p < alpha_of(level):
        return v.word
    iv = v.interval
    return EQUIVALENT if (-v.margin <= iv.lo and iv.hi <= v.margin) else UNRESOLVED


def half_width(iv: Interval) -> float:
    """``(hi - lo) / 2`` of an interval; inf without one."""
    return (iv.hi - iv.lo) / 2.0 if iv.has_interval else float("inf")


def fmt_p(p: float) -> str:
    """``0.012``, ``<0.001``; '' for NaN."""
    if not math.isfinite(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_verdict(v: Verdict, p_adj: float = float("nan"), level: float = LEVEL, decimals: int = 2,
                p_label: str = "adj. p") -> str:
    """Text of a verdict: ``-1.84 [-2.97, -0.71] better (adj. p 0.012)``; a better / worse
    that does not survive the adjustment reads ``better n.s. (adj. p 0.310)``;
    ``+0.70 (n=1) underpowered``; '' without values."""
    iv = v.interval
    if iv.n == 0 or not math.isfinite(iv.mean):
        return ""
    mean = _num(iv.mean, decimals, True)
    if not iv.has_interval:
        return f"{mean} (n={iv.n}) {UNDERPOWERED}"
    text = f"{mean} [{_num(iv.lo, decimals, True)}, {_num(iv.hi, decimals, True)}] {v.word}"
    if v.word == UNDERPOWERED:
        return f"{text} (n={iv.n})"
    if math.isfinite(p_adj):
        ns = " n.s." if v.word in (BETTER, WORSE) and not survives(v, p_adj, level) else ""
        text += f"{ns} ({p_label} {fmt_p(p_adj)})"
    return text
