"""The one interface every backbone implements, and the model registry.

A model is an ``nn.Module`` built as ``Model(meta: DatasetMeta, **hparams)`` whose
``forward(x)`` maps x (B, in_steps, N, in_channels) with channels
[z-value, time of day, day of week] to (B, out_steps, N, 1) in z-scored units.
Graph supports are derived from ``meta.adj`` at construction.
"""
from __future__ import annotations

import torch
from torch import nn

from stbench.registry import Registry
from stbench.datasets.base import DatasetMeta

MODELS: Registry = Registry("model")
register_model = MODELS.register
#: entry-point group under which an installed package declares models (docs/own_method.md)
ENTRY_POINT_GROUP = "stbench.models"


def model_class(name: str) -> type:
    """The model class of ``name``: a registered model, an import path ``package.module:Class``
    or an installed package's entry point in group ``stbench.models`` (stbench.plugins)."""
    from stbench import models  # noqa: F401  (registers the built-in models)
    from stbench.plugins import resolve

    return resolve(name, ENTRY_POINT_GROUP, MODELS, "model", base=STModel)


def is_outside_model(name: str) -> bool:
    """True for a model loaded from an import path or an entry point."""
    from stbench.plugins import info
    return info(name, ENTRY_POINT_GROUP) is not None


class STModel(nn.Module):
    """Base class: stores the meta and checks input shapes."""

    def __init__(self, meta: DatasetMeta):
        super().__init__()
        self.num_nodes = meta.num_nodes
        self.in_steps = meta.in_steps
        self.out_steps = meta.out_steps
        self.in_channels = meta.in_channels
        self.steps_per_day = meta.steps_per_day

    def check_input(self, x: torch.Tensor) -> None:
        exp = (self.in_steps, self.num_nodes, self.in_channels)
        if x.ndim != 4 or tuple(x.shape[1:]) != exp:
            raise ValueError(
                f"{type(self).__name__} expects input of shape (batch, {exp[0]}, {exp[1]}, {exp[2]}) "
                f"= (batch, in_steps, nodes, channels), got {tuple(x.shape)}"
            )


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
