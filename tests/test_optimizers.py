"""Optimisers: Muon (+ AdamW) and SGD through the engine, the parameter split, the config
keys (checked, and neutral for the identity of committed runs), the per-step metric means."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from stbench import models
from stbench.benchmarks.config import ConfigError, StrategySpec, config_hash, pruner_defaults, resolve_run
from stbench.benchmarks.engine import OPTIMIZERS, train
from stbench.benchmarks.optimizers import MUON_SPLITS, MuonAdamW, split_parameters
from stbench.datasets.base import DatasetMeta
from stbench.datasets.metrics import MaskedMetrics


def cfg_for(model="stid", epochs=2, **train_over):
    d = pruner_defaults("full")
    spec = StrategySpec(label="full", name="full", params=d["params"], ratios=None)
    over = {"train": {"epochs": epochs, "batch_size": 32, **train_over}, "dataset": {"max_steps": 400}}
    return resolve_run("SYNTHETIC", model, spec, 0.0, 0, "smoke", [over], "test")


def test_torch_has_muon():
    assert hasattr(torch.optim, "Muon") and "muon" in OPTIMIZERS and "sgd" in OPTIMIZERS


@pytest.mark.parametrize("model, optimizer, extra", [
    ("stid", "muon", {"lr": 0.01}),
    ("staeformer", "muon", {"lr": 0.005, "muon_params": "2d_no_embed"}),
    ("stid", "sgd", {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}),
])
def test_two_epoch_smoke_run_loss_falls(model, optimizer, extra):
    res = train(cfg_for(model, epochs=2, optimizer=optimizer, **extra))
    losses = [e.train_loss for e in res.epochs]
    assert all(np.isfinite(losses)) and losses[1] < losses[0]
    assert np.isfinite(res.test["mae"])


def _meta(n=6):
    a = np.eye(n, dtype=np.float32) + np.eye(n, k=1, dtype=np.float32)
    return DatasetMeta(name="T", num_nodes=n, adj=a)


def test_split_rules():
    from stbench.models.config import model_config

    stid = models.build_model("stid", _meta(), **model_config("stid", profile="smoke")["params"])
    muon, adamw = split_parameters(stid, "2d")
    names = {n for n, _ in muon}
    assert "node_emb" in names and "encoder.0.fc1.weight" in names
    assert all(p.ndim == 2 for _, p in muon) and all(p.ndim == 1 for _, p in adamw)  # STID: biases left
    lin, rest = split_parameters(stid, "2d_no_embed")
    assert "node_emb" not in {n for n, _ in lin} and "node_emb" in {n for n, _ in rest}
    assert {n for n, _ in lin} <= names
    stgcn = models.build_model("stgcn", _meta(), **model_config("stgcn", profile="smoke")["params"])
    m, _ = split_parameters(stgcn, "2d")
    assert not any(".ln." in n for n, _ in m)                 # 2-D LayerNorm[N, C] stays on AdamW
    assert all(not n.endswith("bias") for n, _ in m)
    assert sorted(MUON_SPLITS.names()) == ["2d", "2d_no_embed"]


def test_muon_adamw_shares_groups_with_the_scheduler():
    net = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 1))
    muon, adamw = split_parameters(net, "2d")
    opt = MuonAdamW([p for _, p in muon], [p for _, p in adamw], lr=0.02, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[1], gamma=0.1)
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    before = [p.detach().clone() for p in net.parameters()]
    for _ in range(2):
        opt.zero_grad()
        ((net(x) - y) ** 2).mean().backward()
        opt.step()
        sched.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert [g["lr"] for inner in opt.inner for g in inner.param_groups] == pytest.approx([0.002, 0.002])
    assert len(opt.state_dict()["inner"]) == 2


def test_muon_without_matrices_is_an_error():
    from stbench.models.config import model_config

    gwnet = models.build_model("gwnet", _meta(), **model_config("gwnet", profile="smoke")["params"])
    with pytest.raises(ValueError, match=r"train\.muon_params '2d_no_embed' gives Muon no parameter of GWNet"):
        OPTIMIZERS.get("muon")(gwnet.parameters(), {"lr": 1e-3, "weight_decay": 0.0,
                                                    "muon_params": "2d_no_embed"}, model=gwnet)


@pytest.mark.parametrize("over, pattern", [
    ({"muon_params": "all"}, r"train\.muon_params must be one of 2d, 2d_no_embed, got 'all'"),
    ({"muon_adjust_lr": "x"}, r"train\.muon_adjust_lr must be one of match_rms_adamw, original"),
    ({"optimizer": "sgd", "nesterov": True, "momentum": 0.0}, r"train\.nesterov: true needs train\.momentum > 0"),
    ({"momentum": 1.5}, r"train\.momentum must be in \[0, 1\), got 1\.5"),
    ({"nesterov": "yes"}, r"train\.nesterov: expected bool"),
])
def test_bad_optimizer_settings(over, pattern):
    with pytest.raises(ConfigError, match=pattern):
        cfg_for(**over)


def test_new_train_keys_are_identity_neutral():
    cfg = cfg_for()
    old = {**cfg, "train": {k: v for k, v in cfg["train"].items()
                            if k not in ("nesterov", "muon_params", "muon_momentum", "muon_adjust_lr")}}
    assert config_hash(cfg) == config_hash(old)
    assert config_hash(cfg_for(optimizer="sgd", nesterov=True)) != config_hash(cfg_for(optimizer="sgd"))


def test_step_means_next_to_pooled():
    met = MaskedMetrics(out_steps=2)
    y = torch.ones(1, 2, 4)
    p = torch.tensor([[[2.0, 2.0, 2.0, 2.0], [1.0, 1.0, 1.0, 5.0]]])
    m = torch.tensor([[[True, True, True, True], [False, False, False, True]]])
    met.update(p, y, m)
    pooled, means = met.compute(()), met.step_means()
    assert pooled["mae"] == pytest.approx((4 + 4) / 5)           # pooled: sum / count over steps
    assert means["mae_stepmean"] == pytest.approx((1 + 4) / 2)   # mean of the per-step MAEs
    assert means["rmse_stepmean"] == pytest.approx((1 + 4) / 2)
    assert set(means) == {"mae_stepmean", "rmse_stepmean", "mape_stepmean", "wape_stepmean"}
