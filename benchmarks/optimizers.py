"""Muon (+ AdamW) for ``train.optimizer: muon``, and the checks of the optimiser settings.

``muon`` trains the weight matrices with ``torch.optim.Muon`` (Jordan et al. 2024,
torch >= 2.9) and every other parameter with ``torch.optim.AdamW``, one optimiser object
for the engine (``MuonAdamW``: one ``step``, ``zero_grad``, ``param_groups`` shared with
the two inner optimisers, so ``MultiStepLR`` decays both learning rates).

Muon update of a 2-D parameter W with gradient G (momentum mu = ``muon_momentum``, Nesterov
as in the reference implementation, decoupled weight decay lambda = ``weight_decay``)::

    B_t = mu B_{t-1} + G_t;   U = G_t + mu B_t
    O   = NS_5(U)                       (Newton-Schulz: approximately U (U^T U)^(-1/2))
    W  <- W - lr lambda W - lr' O,      lr' = adjust(lr, shape W)

``muon_adjust_lr``: ``match_rms_adamw`` (default; lr' = 0.2 lr sqrt(max(A, B)) for W of shape
(A, B), so Muon reuses AdamW's learning rate and weight decay) or ``original``
(lr' = lr sqrt(max(1, A / B))). Both groups take ``train.lr`` (and its milestones).

Which parameters Muon gets (``train.muon_params``, the ``MUON_SPLITS`` registry; torch's
Muon takes 2-D tensors only, so convolution kernels (4-D) always go to AdamW, and so do
biases and the parameters of normalisation layers, e.g. STGCN's 2-D LayerNorm[N, C]):

* ``2d``: every other 2-D parameter: linear layers, embedding tables and free 2-D
  parameters such as node embeddings (STID's ``node_emb``, GWNet's ``nodevec``);
* ``2d_no_embed``: only the weights of ``nn.Linear`` layers; embedding tables and free
  parameters go to AdamW.

GWNet and STGCN are convolutional: Muon sees only their node embeddings (``2d``) or
nothing (``2d_no_embed``: an error, since Muon would then be AdamW under another name).
STID and STAEformer are linear layers and get the method as intended.

``sgd`` (benchmarks.engine): ``torch.optim.SGD`` with ``momentum`` (0.9) and ``nesterov``
(false), L2 ``weight_decay``.
"""
from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Tuple

import torch
from torch import nn

from stbench.benchmarks.engine import OPTIMIZERS
from stbench.registry import Registry

#: train.muon_params -> predicate(module, attribute name, parameter) -> True: Muon, False: AdamW
MUON_SPLITS: Registry[Callable[[nn.Module, str, nn.Parameter], bool]] = Registry("Muon parameter split")
MUON_ADJUST_LR = ("match_rms_adamw", "original")
NORM_LAYERS = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm,
               nn.LocalResponseNorm)
if hasattr(nn, "RMSNorm"):
    NORM_LAYERS = NORM_LAYERS + (nn.RMSNorm,)


@MUON_SPLITS.register("2d")
def _two_d(module: nn.Module, attr: str, p: nn.Parameter) -> bool:
    """Every 2-D parameter except normalisation-layer parameters and biases."""
    return p.ndim == 2 and not isinstance(module, NORM_LAYERS) and attr != "bias"


@MUON_SPLITS.register("2d_no_embed")
def _linear_only(module: nn.Module, attr: str, p: nn.Parameter) -> bool:
    """Only the weight matrices of nn.Linear layers."""
    return p.ndim == 2 and isinstance(module, nn.Linear) and attr == "weight"


Named = List[Tuple[str, nn.Parameter]]


def split_parameters(model: nn.Module, rule: str) -> Tuple[Named, Named]:
    """(Muon parameters, AdamW parameters) of ``model`` under ``rule``, each as (name, param), in
    ``named_parameters`` order; a parameter shared by several modules is placed once."""
    pred = MUON_SPLITS.get(rule)
    muon, adamw, seen = [], [], set()
    for mname, module in model.named_modules():
        for attr, p in module.named_parameters(recurse=False):
            if id(p) in seen or not p.requires_grad:
                continue
            seen.add(id(p))
            (muon if pred(module, attr, p) else adamw).append((f"{mname}.{attr}" if mname else attr, p))
    return muon, adamw


class MuonAdamW(torch.optim.Optimizer):
    """Muon on ``muon_params`` + AdamW on ``adamw_params`` behind one optimiser interface.

    The inner optimisers own the state; ``param_groups`` are the very dicts the inner ones
    hold (Muon's first), so a scheduler that changes ``group["lr"]`` changes both.
    """

    def __init__(self, muon_params: Iterable[nn.Parameter], adamw_params: Iterable[nn.Parameter], lr: float,
                 weight_decay: float, momentum: float = 0.95, adjust_lr_fn: str = "match_rms_adamw"):
        muon_params, adamw_params = list(muon_params), list(adamw_params)
        self.inner: List[torch.optim.Optimizer] = [
            torch.optim.Muon(muon_params, lr=lr, weight_decay=weight_decay, momentum=momentum,
                             nesterov=True, adjust_lr_fn=adjust_lr_fn)]
        if adamw_params:
            self.inner.append(torch.optim.AdamW(adamw_params, lr=lr, weight_decay=weight_decay))
        groups = [g for opt in self.inner for g in opt.param_groups]
        super().__init__(groups, {})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for opt in self.inner:
            opt.step()
        return loss

    def state_dict(self) -> Dict[str, dict]:
        return {"inner": [opt.state_dict() for opt in self.inner]}

    def load_state_dict(self, state_dict: Dict[str, dict]) -> None:
        for opt, sd in zip(self.inner, state_dict["inner"]):
            opt.load_state_dict(sd)


@OPTIMIZERS.register("muon")
def _muon(params, cfg, model=None):
    """Muon for the weight matrices chosen by ``cfg['muon_params']``, AdamW for the rest."""
    if model is None:
        raise ValueError("optimizer muon needs the model (to tell weight matrices from the rest)")
    rule = cfg.get("muon_params", "2d")
    muon, adamw = split_parameters(model, rule)
    if not muon:
        raise ValueError(f"train.optimizer muon: train.muon_params {rule!r} gives Muon no parameter of "
                         f"{type(model).__name__} (torch.optim.Muon takes 2-D weight matrices; convolution "
                         f"kernels are 4-D); use muon_params: 2d, or another optimizer")
    return MuonAdamW([p for _, p in muon], [p for _, p in adamw], lr=cfg["lr"],
                     weight_decay=cfg["weight_decay"], momentum=cfg.get("muon_momentum", 0.95),
                     adjust_lr_fn=cfg.get("muon_adjust_lr", "match_rms_adamw"))


def check_optimizer_settings(train: dict, where: str, error=ValueError) -> None:
    """The optimiser keys of a resolved ``train`` block, each a one-line ``error`` naming the key."""
    for key in ("momentum", "muon_momentum"):
        v = train.get(key)
        if v is not None and not 0.0 <= float(v) < 1.0:
            raise error(f"{where}: train.{key} must be in [0, 1), got {v!r}")
    if train.get("muon_params") is not None and train["muon_params"] not in MUON_SPLITS:
        raise error(f"{where}: train.muon_params must be one of {', '.join(MUON_SPLITS.names())}, "
                    f"got {train['muon_params']!r}")
    if train.get("muon_adjust_lr") is not None and train["muon_adjust_lr"] not in MUON_ADJUST_LR:
        raise error(f"{where}: train.muon_adjust_lr must be one of {', '.join(MUON_ADJUST_LR)}, "
                    f"got {train['muon_adjust_lr']!r}")
    if train.get("optimizer") == "sgd" and train.get("nesterov") and not train.get("momentum"):
        raise error(f"{where}: train.nesterov: true needs train.momentum > 0 (got {train.get('momentum')!r})")
