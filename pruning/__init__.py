"""Data pruning strategies, one module each, registered by name in ``PRUNERS``.

Every module of this package is imported here, so a new strategy is one file in
``pruning/`` plus ``configs/pruners/NAME.yaml`` (see docs/pruning.md).
``build_pruner(name, context, ratio, **params)`` builds one. ``PrunedSampler``,
``IndexedDataset``, ``indexed_collate`` and ``make_pruner`` (pruning/loop.py,
docs/own_loop.md) drive a pruner from any PyTorch training loop.
"""
import importlib
import pkgutil

from .base import PRUNERS, PruneContext, Pruner, Selection, build_pruner, register_pruner
from .complexity import complexity_scores, context_complexity
from .loop import IndexedDataset, PrunedSampler, indexed_collate, make_pruner
from .stationarity import quantile_strata, stationarity_stat

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_mod}")  # registers the strategies it defines

__all__ = ["PRUNERS", "PruneContext", "Pruner", "Selection", "build_pruner", "register_pruner",
           "complexity_scores", "context_complexity", "quantile_strata", "stationarity_stat",
           "PrunedSampler", "IndexedDataset", "indexed_collate", "make_pruner"]
