"""Throughput of the backbones at their published (paper) settings: a benchmark, not a test.

For each model and data-set shape it times, on random inputs of the real shape
(B, 12, N, 3) with the data set's graph (or the fallback of ``models.cli``):

* train: forward + masked-free MAE loss + backward + Adam step, in train mode;
* inference: forward under ``torch.inference_mode`` in eval mode.

After ``warmup`` untimed iterations, ``iters`` iterations are timed one by one;
samples/s = batch_size / median iteration time (``*_best``: / the fastest iteration,
the better estimate when other processes share the cores; the 1-minute load average
before and after each measurement is recorded). Run it with
``python run_benchmark.py perf models --json [--out FILE]`` or
``python -m stbench.benchmarks.perf_models``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Iterable, Optional, Sequence, Tuple

import torch

DEFAULT_SHAPES: Tuple[Tuple[str, int], ...] = (("PEMS08", 170), ("METR-LA", 207))


def _machine() -> dict:
    try:
        from stbench.benchmarks.env import machine_info

        info = machine_info()
    except Exception:  # env module absent: the essentials
        info = {"python": platform.python_version(), "platform": platform.platform(),
                "cpu": platform.processor(), "cpu_count": os.cpu_count(), "torch": torch.__version__}
    try:
        info["cpus_available"] = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        info["cpus_available"] = os.cpu_count()
    info["torch_threads"] = torch.get_num_threads()
    info["mkldnn"] = bool(torch.backends.mkldnn.is_available())
    return info


def _load() -> Optional[float]:
    """1-minute load average (other processes on a shared machine slow the timings down)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover - platform without it
        return None


def _inputs(batch: int, meta, gen: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
    B, P, N, Q = batch, meta.in_steps, meta.num_nodes, meta.out_steps
    x = torch.empty(B, P, N, 3)
    x[..., 0] = torch.randn(B, P, N, generator=gen)
    tod0 = torch.randint(0, meta.steps_per_day, (B, 1, 1), generator=gen)
    x[..., 1] = ((tod0 + torch.arange(P).view(1, P, 1)) % meta.steps_per_day).float() / meta.steps_per_day
    x[..., 2] = torch.randint(0, 7, (B, 1, 1), generator=gen).float().expand(B, P, N)
    y = torch.randn(B, Q, N, 1, generator=gen)
    return x, y


def _time(fn, warmup: int, iters: int) -> dict:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "iters": iters}


def measure_one(name: str, dataset: str, num_nodes: int, batch_size: int = 64, warmup: int = 2,
                iters: int = 5, data_root=None, profile: Optional[str] = None, seed: int = 0) -> dict:
    """Train and inference throughput of one model on one data-set shape."""
    from stbench.models import build_model, count_params, model_config
    from stbench.models.cli import dataset_meta

    meta, source = dataset_meta(dataset, data_root)
    if meta.num_nodes != num_nodes:
        raise ValueError(f"perf models: {dataset} has {meta.num_nodes} nodes, expected {num_nodes}")
    cfg = model_config(name, dataset=dataset, profile=profile)
    torch.manual_seed(seed)
    model = build_model(name, meta, **cfg["params"])
    x, y = _inputs(batch_size, meta, torch.Generator().manual_seed(seed))
    opt = torch.optim.Adam(model.parameters(), lr=float(cfg["train"]["lr"]))

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = (model(x) - y).abs().mean()
        loss.backward()
        opt.step()

    def infer_step():
        with torch.inference_mode():
            model(x)

    load0 = _load()
    model.train()
    tr = _time(train_step, warmup, iters)
    model.eval()
    inf = _time(infer_step, warmup, iters)
    return {"model": name, "dataset": dataset, "num_nodes": num_nodes, "batch_size": batch_size,
            "params": count_params(model), "graph": source, "profile": profile or "paper",
            "train_samples_per_s": batch_size / tr["median_s"], "infer_samples_per_s": batch_size / inf["median_s"],
            "train_samples_per_s_best": batch_size / tr["min_s"], "infer_samples_per_s_best": batch_size / inf["min_s"],
            "train_s_per_batch": tr, "infer_s_per_batch": inf, "load_average_1min": [load0, _load()]}


def measure_models(names: Optional[Iterable[str]] = None, shapes: Sequence[Tuple[str, int]] = DEFAULT_SHAPES,
                   batch_size: int = 64, warmup: int = 2, iters: int = 5, threads: Optional[int] = None,
                   data_root=None, profile: Optional[str] = None) -> dict:
    """Throughput of ``names`` (default: all registered) on each (dataset, nodes) shape."""
    from stbench.models import MODELS

    if threads:
        torch.set_num_threads(int(threads))
    names = list(names) if names else MODELS.names()
    for n in names:
        MODELS.get(n)  # KeyError listing valid names before any timing
    t0 = time.time()
    results = [measure_one(n, ds, nn_, batch_size, warmup, iters, data_root, profile)
               for n in names for ds, nn_ in shapes]
    return {"benchmark": "perf models", "settings": {"batch_size": batch_size, "warmup": warmup, "iters": iters,
                                                      "profile": profile or "paper", "statistic": "median"},
            "machine": _machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t0)),
            "wall_s": round(time.time() - t0, 1), "results": results}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", nargs="+", help="which models (default all)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--profile", choices=("smoke", "cpu", "paper"), default=None, help="default: paper")
    p.add_argument("--data-root", default=None)
    p.add_argument("--json", action="store_true", help="print the JSON")
    p.add_argument("--out", help="also write the JSON to this file")


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="perf_models", description=__doc__.splitlines()[0])
    add_arguments(p)
    a = p.parse_args(argv)
    res = measure_models(a.models, batch_size=a.batch_size, warmup=a.warmup, iters=a.iters, threads=a.threads,
                         data_root=a.data_root, profile=a.profile)
    text = json.dumps(res, indent=2)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(text + "\n")
    if a.json:
        print(text)
    else:
        for r in res["results"]:
            print(f"{r['model']:<11} {r['dataset']:<8} train {r['train_samples_per_s']:8.1f}/s "
                  f"(best {r['train_samples_per_s_best']:8.1f})  infer {r['infer_samples_per_s']:8.1f}/s "
                  f"(best {r['infer_samples_per_s_best']:8.1f})  load {r['load_average_1min']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
