"""The pruner interface: a sampler plus two hooks. A pruner never sees the model.

Engine integration (the whole of it)::

    pruner = build_pruner(cfg, context)                # once per run
    for epoch in range(E):
        sel = pruner.select(epoch)                     # Selection(indices, weights)
        ... train on sel.indices (shuffled by the engine), loss = mean(w_i * l_i) ...
        pruner.update(indices, losses, el2n=...)       # per-sample stats of forwarded samples

``indices`` are training-sample ids 0..n-1 (window i starts at ``context.starts[i]``).
``losses`` are per-sample masked MAEs normalised by each sample's own valid count.

Compute budgets (docs/pruning.md "Budgets"): ``build_pruner(name, ctx, budget=b)`` asks for
a run that forwards at most round(b E n) windows over the E = ``context.epochs`` reference
epochs. ``Pruner.budget_mode(params)`` says how a strategy meets it: ``schedule`` (the
engine shortens the run: ``full``), ``exact`` (the pruner counts: ``self.planned_counts``
(E,) holds its per-epoch plan) or ``native`` (cannot target a budget: building it with
one is an error).
"""
from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from stbench.registry import Registry

from .schedule import ParamCheck, budget_counts, step_matched_counts

PRUNERS: Registry = Registry("pruning strategy")
register_pruner = PRUNERS.register
#: entry-point group under which an installed package declares strategies (docs/own_method.md)
ENTRY_POINT_GROUP = "stbench.pruners"
#: parameters ``build_pruner`` consumes itself (a strategy's YAML may list them; its
#: ``__init__`` never sees them), with their defaults: ``selection: random`` builds the
#: plan-matched random control of a budgeted selector (pruning/matched.py)
BUILD_PARAMS = {"selection": "score"}


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
    #: the engine's batch size when budget plans are step-matched (``train.equal_steps``), else None
    batch_size: Optional[int] = None


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

    def __init__(self, context: PruneContext, ratio: float = 0.0, budget: Optional[float] = None,
                 **params):
        if not 0.0 <= float(ratio) < 1.0:
            raise ValueError(f"prune ratio must be in [0, 1), got {ratio}")
        self.ctx = context
        self.n = int(context.n)
        self.epochs = int(context.epochs)
        self.ratio = float(ratio)
        if params:
            raise TypeError(f"{type(self).__name__} got unknown parameters: {sorted(params)}")
        chk = ParamCheck(self.registry_name)
        #: compute budget b in (0, 1], or None (ratio mode); with a budget ``ratio`` is ignored
        self.budget: Optional[float] = chk.budget(budget)
        #: (E,) int64 windows planned per epoch (budget mode only; None in ratio mode)
        self.planned_counts: Optional[np.ndarray] = None
        if self.budget is not None and type(self).budget_mode(self.budget_params()) == "native":
            raise native_budget_error(self.registry_name)

    @classmethod
    def budget_mode(cls, params: dict) -> str:
        """How the strategy with YAML ``params`` meets a compute budget.

        ``schedule``: the engine shortens the run (full data for round(b E) epochs);
        ``exact``: the pruner plans per-epoch counts that spend round(b E n) passes;
        ``native``: it cannot target a budget (run it at its ratio; placed by measured passes).
        """
        return "native"

    def budget_params(self) -> dict:
        """The parameters ``budget_mode`` depends on, as parsed by this instance."""
        return {}

    def plan_budget(self, full_epochs=(), shape=None) -> np.ndarray:
        """Set ``self.planned_counts`` = budget_counts(n, E, b, full_epochs, shape) (budget mode),
        step-matched (``step_matched_counts``) when the context gives a batch size."""
        counts = budget_counts(self.n, self.epochs, self.budget, full_epochs, shape)
        if getattr(self.ctx, "batch_size", None):
            counts = step_matched_counts(counts, self.n, int(self.ctx.batch_size))
        self.planned_counts = counts
        return self.planned_counts

    @property
    def planned_budget(self) -> Optional[float]:
        """The budget the plan spends, sum_e planned_counts[e] / (E n) (None in ratio mode).

        Equals round(b E n) / (E n) when the budget is feasible, more when it is not."""
        if self.planned_counts is None:
            return None
        return float(self.planned_counts.sum()) / (self.epochs * self.n)

    def rng(self, epoch: int) -> np.random.Generator:
        return np.random.default_rng([int(self.ctx.seed), int(epoch), name_tag(self.registry_name)])

    def select(self, epoch: int) -> Selection:
        raise NotImplementedError

    def update(self, indices: np.ndarray, losses: np.ndarray, el2n: Optional[np.ndarray] = None) -> None:
        """Receive per-sample statistics of the samples forwarded this epoch."""

    def full(self) -> Selection:
        return Selection(np.arange(self.n, dtype=np.int64), np.ones(self.n, dtype=np.float32))

    @classmethod
    def defaults(cls) -> dict:
        """``{"ratio": r, "params": {key: default}}`` from the class: the default of ``ratio``
        and every keyword-only argument of ``__init__`` (a YAML is optional)."""
        sig = inspect.signature(cls.__init__).parameters
        ratio = sig["ratio"].default if "ratio" in sig else 0.0
        params = {k: (None if p.default is inspect.Parameter.empty else p.default)
                  for k, p in sig.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
        return {"ratio": 0.0 if ratio is inspect.Parameter.empty else float(ratio), "params": params}

    def state_dict(self) -> dict:
        """The pruner's whole learning state (a deep copy of its attributes but the context):
        ``load_state_dict`` on a pruner built with the same arguments continues the same
        selections. Holds NumPy arrays and plain objects: save it with ``pickle`` or
        ``torch.save`` (load with ``torch.load(..., weights_only=False)``)."""
        return {"strategy": self.registry_name, "n": self.n, "epochs": self.epochs,
                "attrs": copy.deepcopy({k: v for k, v in vars(self).items() if k != "ctx"})}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()`` of a pruner of the same strategy, n and epochs."""
        if not isinstance(state, dict) or "attrs" not in state:
            raise ValueError(f"pruner {self.registry_name!r}: load_state_dict expects the dict that "
                             f"state_dict() returned")
        for k, want in (("strategy", self.registry_name), ("n", self.n), ("epochs", self.epochs)):
            if state.get(k) != want:
                raise ValueError(f"pruner {self.registry_name!r}: the state is of {k} = {state.get(k)!r}, "
                                 f"this pruner has {k} = {want!r}")
        vars(self).update(copy.deepcopy(state["attrs"]))

    def extra_info(self) -> dict:
        """Optional diagnostics recorded per epoch (must be cheap)."""
        return {}


def name_tag(name: str) -> int:
    """A stable integer tag of a name, used to seed per-strategy random streams."""
    return sum(ord(c) * (i + 1) for i, c in enumerate(name)) % (2**31)


def native_budget_error(name: str) -> ValueError:
    return ValueError(f"pruner {name!r} (configs/pruners/{name}.yaml) cannot target a compute "
                      f"budget in this form (budget_mode 'native'): set params.budgeted: true, "
                      f"or run it with prune ratios")


def build_pruner(name: str, context: PruneContext, ratio: float = 0.0, budget: Optional[float] = None,
                 **params) -> Pruner:
    """Build strategy ``name``: ratio mode (``budget`` None) or at compute budget ``budget``.

    The budget is passed on only when it is given, so a strategy without budget support
    still builds in ratio mode; with a budget a ``native`` strategy raises a ValueError.
    ``selection: random`` (with a budget) wraps the budgeted selector in its plan-matched
    random control (pruning/matched.py); ``score`` (default) is the selector itself.
    """
    from .matched import SELECTIONS, PlanMatchedRandom

    cls = pruner_class(name)
    selection = params.pop("selection", BUILD_PARAMS["selection"])
    if selection not in SELECTIONS:
        raise ParamCheck(cls.registry_name).fail("selection", selection, f"one of {', '.join(SELECTIONS)}")
    if budget is None:
        pruner = cls(context, ratio=ratio, **params)
    elif cls.budget_mode(params) == "native":
        raise native_budget_error(cls.registry_name)
    else:
        pruner = cls(context, ratio=ratio, budget=budget, **params)
    return PlanMatchedRandom(pruner) if selection == "random" else pruner


def pruner_class(name: str) -> type:
    """The strategy class of ``name``: a registered strategy, an import path
    ``package.module:Class`` or an installed package's entry point in group ``stbench.pruners``
    (stbench.plugins). Unknown: KeyError listing the choices."""
    from stbench import pruning  # noqa: F401  (registers the built-in strategies)
    from stbench.plugins import resolve

    return resolve(name, ENTRY_POINT_GROUP, PRUNERS, "strategy", base=Pruner)


def pruner_names() -> list:
    """The registered strategies and those installed packages declare as entry points."""
    from stbench import pruning  # noqa: F401
    from stbench.plugins import entry_point_names

    return sorted(set(PRUNERS.names()) | set(entry_point_names(ENTRY_POINT_GROUP)))
