"""Spatio-temporal forecasting backbones behind one interface (see models.base).

``build_model(name, meta, **params)`` builds a registered model; ``model_config``
reads its settings from ``configs/models/NAME.yaml``. Importing this package
registers every model module below.
"""
from __future__ import annotations

import inspect

from .base import ENTRY_POINT_GROUP, MODELS, STModel, count_params, model_class, register_model
from .config import model_config, model_names
from . import agcrn, gwnet, staeformer, stgcn, stid  # noqa: F401  (register the models)

__all__ = ["MODELS", "STModel", "build_model", "model_class", "count_params", "model_config", "model_names", "register_model"]


def build_model(name: str, meta, **params) -> STModel:
    """Build model ``name`` for a data set's ``meta``; unknown params raise ValueError listing valid ones."""
    cls = model_class(name)
    valid = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "meta")]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"model {name!r}: unknown parameter(s) {', '.join(unknown)}; valid: {', '.join(valid)}")
    return cls(meta, **params)
