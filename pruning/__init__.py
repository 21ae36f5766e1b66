"""Data pruning strategies, one module each, registered by name in ``PRUNERS``.

Every module of this package is imported here, so a new strategy is one file in
``pruning/`` (its parameters and defaults are its keyword-only arguments; a
``configs/pruners/NAME.yaml`` is optional, see docs/pruning.md). A strategy outside the
repository is named by an import path ``package.module:Class`` or declared by an installed
package under the entry-point group ``stbench.pruners`` (``pruner_class``, docs/own_method.md).
``build_pruner(name, context, ratio, **params)`` builds one. ``PrunedSampler``,
``IndexedDataset``, ``indexed_collate`` and ``make_pruner`` (pruning/loop.py,
docs/own_loop.md) drive a pruner from any PyTorch training loop.
"""
import importlib
import pkgutil

from .base import (PRUNERS, PruneContext, Pruner, Selection, build_pruner, pruner_class, pruner_names,
                   register_pruner)
from .complexity import complexity_scores, context_complexity
from .loop import (IndexedDataset, PrunedSampler, indexed_collate, make_pruner, prebatched_collate,
                   shortened_schedule)
from .stationarity import quantile_strata, stationarity_stat

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_mod}")  # registers the strategies it defines

__all__ = ["PRUNERS", "PruneContext", "Pruner", "Selection", "build_pruner", "pruner_class", "pruner_names",
           "register_pruner", "shortened_schedule",
           "complexity_scores", "context_complexity", "quantile_strata", "stationarity_stat",
           "PrunedSampler", "IndexedDataset", "indexed_collate", "make_pruner", "prebatched_collate"]
