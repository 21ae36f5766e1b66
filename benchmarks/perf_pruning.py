"""Pruning overhead and wall-clock efficiency (a benchmark, not a test).

On a PEMS08-sized training set (the synthetic road generator at 170 nodes x 62 days
of 5-min steps = 17,856 steps, split 6:2:2 -> 10,700 training windows) each strategy
trains a small GWNet for a few epochs with the real engine. Reported per strategy:

* ``overhead_fraction`` = pruner seconds / epoch seconds (pruner = the one-off setup in
  the constructor, e.g. ST-Prune's complexity scores, + select + update; epoch = train +
  eval + pruner), summed over the measured epochs; ``overhead_max_epoch`` the worst epoch
  (epoch 0 carries the setup); ``setup_seconds`` the one-off part alone and
  ``overhead_fraction_per_epoch`` the recurring part (select + update) alone.
* ``speedup`` = full-data train-loop seconds / the strategy's train-loop seconds.
* ``ideal_speedup`` = full sample passes / the strategy's sample passes.
* ``efficiency`` = speedup / ideal_speedup (1.0 = every skipped pass saved its time).
"""
from __future__ import annotations

import time
from typing import Iterable, Optional

import numpy as np

PERF_NODES, PERF_DAYS = 170, 62

# A small GWNet: the published layout (4 blocks x 2 layers, kernel 2) at reduced width.
SMALL_GWNET = {"residual_channels": 8, "dilation_channels": 8, "skip_channels": 32, "end_channels": 64}


def perf_data():
    from stbench.datasets.base import RawSeries
    from stbench.datasets.protocol import WindowedData
    from stbench.datasets.synthetic import SyntheticRoads

    values, adj, _ = SyntheticRoads(nodes=PERF_NODES, days=PERF_DAYS, seed=0).generate()
    T = values.shape[0]
    ts = (np.datetime64("2016-07-04T00:00") + np.arange(T) * np.timedelta64(5, "m")).astype("datetime64[ns]")
    raw = RawSeries("PERF-PEMS08-SHAPE", values.astype(np.float32), adj.astype(np.float32), ts, null_value=0.0)
    return WindowedData(raw, split=(0.6, 0.2, 0.2))


def _config(strategy: str, ratio: float, epochs: int, model_params: dict) -> dict:
    from stbench.benchmarks.config import StrategySpec, pruner_defaults, resolve_run

    d = pruner_defaults(strategy)
    spec = StrategySpec(label=strategy, name=strategy, params=d["params"], ratios=None)
    over = {"train": {"epochs": epochs, "batch_size": 64, "eval_batch_size": 512},
            "model_params": {"gwnet": model_params}}
    cfg = resolve_run("SYNTHETIC", "gwnet", spec, ratio, 0, "paper", [over], "perf")
    cfg["dataset"]["name"] = "PERF-PEMS08-SHAPE"
    return cfg


def measure_pruning(strategies: Optional[Iterable[str]] = None, epochs: int = 4, ratio: float = 0.5,
                    threads: Optional[int] = None, data_root=None) -> dict:
    import torch

    from stbench.benchmarks.engine import train
    from stbench.benchmarks.env import machine_info
    from stbench.pruning.base import PRUNERS

    if threads:
        torch.set_num_threads(threads)
    data = perf_data()
    names = list(strategies or PRUNERS.names())
    if "full" in names:
        names.remove("full")
    names = ["full"] + names
    out = {"setup": {"nodes": PERF_NODES, "train_windows": data.num_windows("train"), "epochs": epochs,
                     "ratio": ratio, "model": "gwnet", "model_params": SMALL_GWNET, "batch_size": 64},
           "machine": machine_info(), "strategies": {}}
    base = None
    for name in names:
        t0 = time.perf_counter()
        res = train(_config(name, 0.0 if name == "full" else ratio, epochs, SMALL_GWNET), data=data)
        ep = res.epochs
        tr = sum(e.train_seconds for e in ep)
        ev = sum(e.eval_seconds for e in ep)
        pr = sum(e.pruner_seconds for e in ep)
        passes = sum(e.sample_passes for e in ep)
        setup = res.pruner_setup_seconds
        row = {
            "train_seconds": tr, "eval_seconds": ev, "pruner_seconds": pr, "setup_seconds": setup,
            "overhead_fraction_per_epoch": (pr - setup) / (tr + ev + pr - setup),
            "overhead_fraction": pr / (tr + ev + pr),
            "overhead_max_epoch": max(e.pruner_seconds / (e.train_seconds + e.eval_seconds + e.pruner_seconds)
                                      for e in ep),
            "sample_passes": passes, "kept_fraction": passes / (res.n_train * len(ep)),
            "steps": sum(e.steps for e in ep),
            "per_epoch_kept": [round(e.kept_fraction, 4) for e in ep],
            "wall_seconds": time.perf_counter() - t0,
        }
        if base is None:
            base = row
        row["speedup"] = base["train_seconds"] / tr
        row["ideal_speedup"] = base["sample_passes"] / passes
        row["efficiency"] = row["speedup"] / row["ideal_speedup"]
        out["strategies"][name] = row
    return out
