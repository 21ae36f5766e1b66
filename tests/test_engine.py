"""The training engine: per-epoch records, weighting, schedules, determinism, and a
2-epoch run of every model with every strategy on a tiny real data set."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from stbench import models
from stbench.benchmarks.config import StrategySpec, pruner_defaults, resolve_run
from stbench.benchmarks.engine import train
from stbench.pruning.base import PRUNERS


def cfg_for(model="stid", strategy="full", ratio=0.0, dataset="SYNTHETIC", seed=0, epochs=2,
            max_steps=400, train=None, params=None, profile="smoke"):
    d = pruner_defaults(strategy)
    spec = StrategySpec(label=strategy, name=strategy, params={**d["params"], **(params or {})}, ratios=None)
    over = {"train": {"epochs": epochs, "batch_size": 32, **(train or {})}, "dataset": {"max_steps": max_steps}}
    return resolve_run(dataset, model, spec, ratio, seed, profile, [over], "test")


def test_records_and_accounting():
    res = train(cfg_for(strategy="random", ratio=0.5, epochs=3))
    assert len(res.epochs) == 3
    n = res.n_train
    for e in res.epochs:
        assert e.sample_passes == round(0.5 * n) or abs(e.sample_passes - 0.5 * n) <= 1
        assert e.steps == -(-e.sample_passes // 32)
        assert e.kept_fraction == pytest.approx(e.sample_passes / n)
        assert e.train_seconds > 0 and e.eval_seconds > 0 and e.pruner_seconds >= 0
        assert np.isfinite(e.train_loss) and np.isfinite(e.val_mae)
    walls = [e.wall_seconds for e in res.epochs]
    assert walls == sorted(walls)
    assert 0 <= res.best_epoch < 3
    assert {"mae", "rmse", "mape", "mae@3", "mae@6", "mae@12"} <= set(res.test)


def test_epoch_schedule_unaffected_by_pruning():
    full = train(cfg_for(strategy="full", epochs=3, train={"milestones": [1, 2], "gamma": 0.5, "lr": 0.01}))
    pruned = train(cfg_for(strategy="random", ratio=0.7, epochs=3,
                           train={"milestones": [1, 2], "gamma": 0.5, "lr": 0.01}))
    assert [e.lr for e in full.epochs] == pytest.approx([0.01, 0.005, 0.0025])
    assert [e.lr for e in pruned.epochs] == [e.lr for e in full.epochs]


def test_same_seed_identical_twice_and_seed_matters():
    a = train(cfg_for(strategy="infobatch", ratio=0.5, epochs=3, seed=3))
    b = train(cfg_for(strategy="infobatch", ratio=0.5, epochs=3, seed=3))
    c = train(cfg_for(strategy="infobatch", ratio=0.5, epochs=3, seed=4))
    assert a.selected_digest == b.selected_digest
    assert a.test == b.test
    assert a.selected_digest != c.selected_digest


def test_weights_multiply_per_sample_losses(monkeypatch):
    """A pruner that keeps everyone with weight 2 gives exactly twice the gradient of full."""
    from stbench.benchmarks import engine
    from stbench.pruning.base import Selection

    cfg = cfg_for(strategy="full", epochs=1)
    data, model, pruner = engine.build_run(cfg)
    x, y, m = data.gather("train", torch.arange(8))
    w = torch.full((8,), 2.0)
    torch.manual_seed(0)
    model.eval()
    pred = data.scaler.inverse(model(x)[..., 0])
    from stbench.datasets.metrics import per_sample_masked_mae
    per = per_sample_masked_mae(pred, y, m)
    g1 = torch.autograd.grad(per.mean(), [p for p in model.parameters()], allow_unused=True)
    g2 = torch.autograd.grad((w * per_sample_masked_mae(data.scaler.inverse(model(x)[..., 0]), y, m)).mean(),
                             [p for p in model.parameters()], allow_unused=True)
    for a, b in zip(g1, g2):
        if a is not None:
            torch.testing.assert_close(2 * a, b)
    assert isinstance(pruner.select(0), Selection)


@pytest.mark.realdata
@pytest.mark.parametrize("model", sorted(models.MODELS.names()))
@pytest.mark.parametrize("strategy", sorted(PRUNERS.names()))
def test_two_epochs_every_model_every_strategy_on_real_data(real_data_root, model, strategy):
    ratio = 0.0 if strategy == "full" else 0.5
    params = {}
    if "warmup_epochs" in pruner_defaults(strategy)["params"]:
        params["warmup_epochs"] = 1
    cfg = cfg_for(model=model, strategy=strategy, ratio=ratio, dataset="AQI36", epochs=2, max_steps=200,
                  params=params)
    res = train(cfg, data_root=real_data_root)
    assert len(res.epochs) == 2
    assert np.isfinite(res.test["mae"])
    assert res.epochs[0].sample_passes >= 1
