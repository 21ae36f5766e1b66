"""The pruner interface: a sampler plus two hooks. A pruner never sees the model.

Engine integration (the whole of it)::

    pruner = build_pruner(cfg, context)                # once per run
    for epoch in range(E):
        sel = pruner.select(epoch)                     # Selection(indices, weights)
        ... train on sel.indices (shuffled by the engine), loss = mean(w_i * l_i) ...
        pruner.update(indices, losses, el2n=...)       # per-sample stats of forwarded samples

``indices`` are training-sample ids 0..n-1 (window i starts at ``context.starts[i]``).
``losses`` are per-sample masked MAEs normalised by each sample's own valid count.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from benchmarks.registry import Registry

PRUNERS: Registry = Registry("pruning strategy")
register_pruner = PRUNERS.register


@dataclass
class PruneContext:
    """What a pruner may know: sizes, the run seed and the training data (no model).

    values: (T_train, N) float32 z-scored training series, NaN where missing.
    starts: (n,) int64 window start steps; window i covers values[starts[i] : starts[i] + in_steps + out_steps].
    adj:    (N, N) float32 adjacency of the data set's graph.
    """

    n: int
    epochs: int
    seed: int
    values: Optional[np.ndarray] = None
    starts: Optional[np.ndarray] = None
    in_steps: int = 12
    out_steps: int = 12
    adj: Optional[np.ndarray] = None


@dataclass
class Selection:
    """The samples to train on this epoch and the weight of each one's loss."""

    indices: np.ndarray  # (k,) int64, unique, sorted or not
    weights: np.ndarray  # (k,) float32

    def __post_init__(self):
        self.indices = np.asarray(self.indices, dtype=np.int64)
        self.weights = np.asarray(self.weights, dtype=np.float32)
        if self.indices.shape != self.weights.shape:
            raise ValueError("indices and weights must have the same length")


class Pruner:
    """Base class. Subclasses implement ``select`` and optionally ``update``.

    Randomness comes only from ``self.rng(epoch)``: a generator seeded by
    (run seed, epoch, strategy name), so runs are reproducible and no global RNG is touched.
    """

    registry_name = "base"
    #: True if the subset may change every epoch (dynamic pruning)
    dynamic = True
    #: True if ``update`` needs the per-sample EL2N; otherwise the engine skips computing it
    wants_el2n = False

    def __init__(self, context: PruneContext, ratio: float = 0.0, **params):
        if not 0.0 <= float(ratio) < 1.0:
            raise ValueError(f"prune ratio must be in [0, 1), got {ratio}")
        self.ctx = context
        self.n = int(context.n)
        self.epochs = int(context.epochs)
        self.ratio = float(ratio)
        if params:
            raise TypeError(f"{type(self).__name__} got unknown parameters: {sorted(params)}")

    def rng(self, epoch: int) -> np.random.Generator:
        tag = sum(ord(c) * (i + 1) for i, c in enumerate(self.registry_name)) % (2**31)
        return np.random.default_rng([int(self.ctx.seed), int(epoch), tag])

    def select(self, epoch: int) -> Selection:
        raise NotImplementedError

    def update(self, indices: np.ndarray, losses: np.ndarray, el2n: Optional[np.ndarray] = None) -> None:
        """Receive per-sample statistics of the samples forwarded this epoch."""

    def full(self) -> Selection:
        return Selection(np.arange(self.n, dtype=np.int64), np.ones(self.n, dtype=np.float32))

    def state_dict(self) -> dict:
        return {}

    def extra_info(self) -> dict:
        """Optional diagnostics recorded per epoch (must be cheap)."""
        return {}


def build_pruner(name: str, context: PruneContext, ratio: float = 0.0, **params) -> Pruner:
    import pruning  # noqa: F401  (registers the built-in strategies)

    cls = PRUNERS.get(name)
    return cls(context, ratio=ratio, **params)
