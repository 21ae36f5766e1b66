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
"""
from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Callable, Iterable, Optional

import numpy as np

from benchmarks.registry import Registry

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
