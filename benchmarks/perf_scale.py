"""``perf scale``: the suite at LargeST size on this machine, with synthetic data (a benchmark).

For LargeST-GLA (3,834 sensors) and LargeST-CA (8,600) shapes, 35,040 steps of 15 min
(2019), split 6:2:2 -> n = 21,010 training windows, it measures:

* **data**: the bytes of the windowed data set: ``WindowedData`` holds one (T, N, 3)
  input tensor, the (T, N) targets and mask, the raw (T, N) series and the window start
  indices, never a copy per window (``materialised_bytes``: what the windows as
  (n, P + Q, N, 3) float32 copies would take);
* **pruners**: each registered strategy (ratio 0.5; ``full`` at 0; plus the budgeted
  InfoBatch and ST-Prune at budget 0.5) built on the training context of E = 100 epochs:
  the one-off setup (``setup_seconds``; ST-Prune: complexity + stationarity over all
  training windows; ``setup_peak_bytes``: the resident memory it added at its peak, Linux
  ``VmHWM`` reset before the build),
  then ``select`` + ``update`` (random losses) per epoch, epoch 0 and the mean of epochs
  1-3 (``epoch_seconds``). The budgeted ST-Prune computes the same complexity and
  stationarity scores as ST-Prune: they are computed once and its ``setup_seconds`` adds
  ST-Prune's measured time for them (``shared_with``);
* **models**: one forward + backward of STID (batch 8) and GWNet (batch 1) at the
  published widths, each in a fresh process: seconds, the peak resident memory it added
  (Linux ``VmHWM`` after resetting it) and the bytes autograd saved for backward
  (``saved_bytes``, unique storages). GWNet at CA is not run (one step takes minutes on
  two cores): its numbers are the fit below, marked ``"extrapolated": true``;
* **gpu_memory_gib**: what one training step needs at the paper batch size on a GPU,
  computed as ``16 P + F(N) + B S(N)`` bytes: P parameters (weights, gradients and Adam's
  two moments, float32), F the batch-independent saved activations (GWNet's dense
  N x N adaptive adjacency and supports), S the saved activations per sample; F and S are
  fitted as ``a N + b N^2`` to forward passes at two node counts and batches 1 and 2 on
  this CPU (``fit``; F = a N + b N^2 for GWNet, c + a N for the others; S = c + a N: the
  measured per-sample activations are linear in N for all three, STAEformer's
  ``scaled_dot_product_attention`` keeps no N x N map), checked against the direct GLA step
  (``fit_check``). Temporaries and the allocator's caching come on top: ``gib_upper`` scales
  the saved part by the CPU step's peak / (saved + 2 x weights) at GLA
  (``transient_factor``, about 2 here; CUDA frees activation gradients as it goes, so the
  truth lies between ``gib`` and ``gib_upper``: LargeST trains GWNet on CA at batch 44 on a
  48 GB GPU, where ``gib`` gives 33 GB).

The synthetic series: per node a daily and weekly profile with random amplitude and phase,
noise, integer flows, 1 % zeros (missing); the graph: each sensor linked to its 24 nearest
neighbours on random coordinates (Gaussian weights, symmetric, self-loops). Run with
``python run_benchmark.py perf scale`` (writes results/perf/scale.json).
"""
from __future__ import annotations

import os
import time
from typing import Dict, Optional

import numpy as np

SHAPES: Dict[str, int] = {"GLA": 3834, "CA": 8600}
STEPS = 35040                 # 2019 at 15 minutes
STEP_MINUTES = 15
DEGREE = 24                   # nearest neighbours per sensor in the synthetic graph (an assumption)
EPOCHS = 100                  # the paper profile's epochs (the pruners plan against them)
RATIO, BUDGET = 0.5, 0.5
#: model -> batch of the measured step; GWNet at CA is extrapolated (see module doc)
STEP_BATCH = {"stid": 8, "gwnet": 1}
STEP_SKIP = {("gwnet", "CA")}
#: data sets of the paper grid (nodes) for the GPU table
GPU_DATASETS = {"PEMS08": 170, "URBANEV": 275, "LARGEST-SD": 716, "LARGEST-GBA": 2352,
                "LARGEST-GLA": 3834, "LARGEST-CA": 8600}
GPU_MODELS = ("stid", "gwnet", "staeformer")
#: node counts of the forward passes the activation fit uses
FIT_NODES = {"stid": (716, 1500), "gwnet": (716, 1500), "staeformer": (300, 716)}
#: models with batch-independent N x N activations (GWNet's dense adaptive adjacency and
#: supports): F(N) = a N + b N^2; the others F(N) = c + a N
QUADRATIC_FIXED = ("gwnet",)


# ----------------------------------------------------------------------------- synthetic data

def knn_adjacency(nodes: int, degree: int, rng: np.random.Generator) -> np.ndarray:
    """(N, N) float32: each node linked to its ``degree`` nearest neighbours (2-D points),
    exp(-(d / sigma)^2) with sigma the std of those distances, symmetric (max), self-loops."""
    from scipy.spatial import cKDTree

    xy = rng.uniform(0, 100, size=(nodes, 2))
    k = min(degree + 1, nodes)
    d, idx = cKDTree(xy).query(xy, k=k)
    sigma = float(d[:, 1:].std()) or 1.0
    adj = np.zeros((nodes, nodes), dtype=np.float32)
    rows = np.repeat(np.arange(nodes), k)
    adj[rows, idx.ravel()] = np.exp(-np.square(d.ravel() / sigma)).astype(np.float32)
    adj = np.maximum(adj, adj.T)
    np.fill_diagonal(adj, 1.0)
    return adj


def synthetic_largest(nodes: int, steps: int = STEPS, seed: int = 0, degree: int = DEGREE,
                      missing: float = 0.01):
    """A RawSeries of LargeST's shape: (steps, nodes) integer flows, 0 = missing (null value)."""
    from stbench.datasets.base import RawSeries

    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    day = 24 * 60 // STEP_MINUTES
    values = np.empty((steps, nodes), dtype=np.float32)
    for a in range(0, nodes, 512):                           # blocks of nodes: bounded temporaries
        b = min(nodes, a + 512)
        amp = rng.uniform(50, 400, b - a)
        phase = rng.uniform(0, 2 * np.pi, b - a)
        daily = 1 + np.sin(2 * np.pi * t[:, None] / day + phase) * 0.8
        weekly = 1 - 0.3 * ((t[:, None] // day) % 7 >= 5)
        x = amp * daily * weekly + rng.normal(0, 15, size=(steps, b - a))
        x = np.maximum(np.round(x), 1.0)
        x[rng.uniform(size=x.shape) < missing] = 0.0
        values[:, a:b] = x
    ts = (np.datetime64("2019-01-01T00:00", "ns")
          + np.arange(steps) * np.timedelta64(STEP_MINUTES, "m").astype("timedelta64[ns]"))
    return RawSeries(f"SYNTH-{nodes}", values, knn_adjacency(nodes, degree, rng), ts, null_value=0.0)


def data_bytes(data) -> dict:
    """Bytes of every array a WindowedData holds (no per-window copy exists)."""
    n_all = sum(data.num_windows(s) for s in ("train", "val", "test"))
    arrays = {"series": data.series, "target": data.target, "mask": data.mask}
    out = {k: int(v.element_size() * v.nelement()) for k, v in arrays.items()}
    out["starts"] = int(sum(s.nbytes for s in data.starts.values()))
    out["raw_values"] = int(data.raw.values.nbytes)
    out["adjacency"] = int(data.raw.adj.nbytes)
    out["total"] = int(sum(out.values()))
    span = data.in_steps + data.out_steps
    out["materialised_bytes"] = int(n_all * span * data.meta.num_nodes * 3 * 4)
    return out


# ----------------------------------------------------------------------------- pruners

def _strategies() -> list:
    from stbench import pruning  # noqa: F401  (registers the strategies)
    from stbench.pruning.base import PRUNERS

    rows = [(name, name, {}, None) for name in PRUNERS.names()]
    rows += [("infobatch-b", "infobatch", {"budgeted": True}, BUDGET),
             ("stprune-b", "stprune", {"budgeted": True}, BUDGET)]
    return rows


def measure_pruners(ctx, epochs_timed: int = 3, seed: int = 0) -> dict:
    """Setup and per-epoch select + update seconds of every strategy on PruneContext ``ctx``."""
    from stbench.pruning import stprune as stp
    from stbench.benchmarks.config import pruner_defaults
    from stbench.pruning.base import build_pruner

    rng = np.random.default_rng(seed)
    losses = rng.gamma(2.0, 1.0, ctx.n).astype(np.float32)
    shared: Dict[str, tuple] = {}                  # name -> (result, seconds) of ST-Prune's scores
    real = {"context_complexity": stp.context_complexity, "context_stationarity": stp.context_stationarity}

    def timed(name):
        def f(*a, **k):
            t0 = time.perf_counter()
            res = real[name](*a, **k)
            shared[name] = (res, time.perf_counter() - t0)
            return res
        return f

    def cached(name):
        return lambda *a, **k: shared[name][0]

    out = {}
    for label, name, extra, budget in _strategies():
        params = {**pruner_defaults(name)["params"], **extra}
        ratio = 0.0 if name == "full" else RATIO
        reuse = name == "stprune" and extra.get("budgeted") and set(real) <= set(shared)
        hooks = cached if reuse else timed
        if name == "stprune":
            for k in real:
                setattr(stp, k, hooks(k))
        try:
            rss0 = _reset_peak()
            t0 = time.perf_counter()
            p = build_pruner(name, ctx, ratio, budget=budget, **params)
            setup = time.perf_counter() - t0
            hwm = _proc_kb("VmHWM")
        finally:
            for k, fn in real.items():
                setattr(stp, k, fn)
        row = {"ratio": ratio, "budget": budget, "params": extra, "setup_seconds": setup,
               "setup_peak_bytes": (hwm - rss0) * 1024 if hwm and rss0 else None}
        if reuse:
            add = sum(shared[k][1] for k in real)
            row.update(setup_seconds=setup + add, setup_own_seconds=setup, shared_with="stprune",
                       shared_seconds=add)
        elif name == "stprune":
            row["scores_seconds"] = {k.replace("context_", ""): shared[k][1] for k in real if k in shared}
        times, kept = [], []
        for e in range(epochs_timed + 1):
            t0 = time.perf_counter()
            sel = p.select(e)
            p.update(sel.indices, losses[sel.indices] * (1.0 + 0.01 * e))
            times.append(time.perf_counter() - t0)
            kept.append(round(len(sel.indices) / ctx.n, 4))
        row.update(epoch0_seconds=times[0], epoch_seconds=float(np.mean(times[1:])), kept_fraction=kept)
        out[label] = row
        del p
    return out


# ----------------------------------------------------------------------------- models

def _meta(nodes: int, seed: int = 0):
    from stbench.datasets.base import DatasetMeta

    return DatasetMeta(name=f"SYNTH-{nodes}", num_nodes=nodes, steps_per_day=96,
                       adj=knn_adjacency(nodes, DEGREE, np.random.default_rng(seed)))


def _proc_kb(key: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> Optional[int]:
    """Reset this process's resident-memory high-water mark (Linux); return VmRSS in kB."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None
    return _proc_kb("VmRSS")


def _saved_bytes_hook(store: dict):
    """saved_tensors_hooks that records each saved tensor's storage once (bytes)."""
    import torch

    def pack(t):
        s = t.untyped_storage()
        store[(s.data_ptr(), s.nbytes())] = s.nbytes()
        return t

    return torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)


def _model_child(name: str, nodes: int, batch: int, backward: bool, threads: int, q) -> None:
    """In a fresh process: build, reset the RSS high-water mark, one step; report to ``q``."""
    try:
        import torch

        from stbench import models
        from stbench.models.config import model_config

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        meta = _meta(nodes)
        model = models.build_model(name, meta, **model_config(name, profile="paper")["params"])
        x = torch.zeros(batch, 12, nodes, 3)
        x[..., 0] = torch.randn(batch, 12, nodes)
        x[..., 1] = 0.5
        x[..., 2] = 3.0
        params = sum(p.numel() for p in model.parameters())
        rss0 = _reset_peak()
        store: dict = {}
        t0 = time.perf_counter()
        with _saved_bytes_hook(store):
            y = model(x)
        t1 = time.perf_counter()
        if backward:
            y.abs().mean().backward()
        t2 = time.perf_counter()
        hwm = _proc_kb("VmHWM")
        q.put({"forward_seconds": t1 - t0, "backward_seconds": t2 - t1 if backward else None,
               "saved_bytes": int(sum(store.values())), "params": int(params),
               "peak_added_bytes": (hwm - rss0) * 1024 if hwm and rss0 else None})
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        q.put({"error": f"{type(e).__name__}: {e}"})


def model_step(name: str, nodes: int, batch: int, backward: bool = True, threads: int = 2,
               timeout: float = 600.0) -> dict:
    """One forward (+ backward) of ``name`` at the paper widths in a spawned process."""
    return {"nodes": nodes, "batch": batch,
            **_spawn(_model_child, (name, nodes, batch, backward, threads), timeout)}


def _solve(points: Dict[int, float], quadratic: bool) -> tuple[float, float, float]:
    """(c, a, b) of c + a N + b N^2 through two (N, value) points: c = 0 (quadratic) or b = 0."""
    (n1, v1), (n2, v2) = sorted(points.items())
    if quadratic:
        m = np.array([[n1, n1 * n1], [n2, n2 * n2]], dtype=np.float64)
        a, b = np.linalg.solve(m, np.array([v1, v2], dtype=np.float64))
        return 0.0, float(a), float(b)
    a = (v2 - v1) / (n2 - n1)
    return float(v1 - a * n1), float(a), 0.0


def _fit_child(name: str, nodes: tuple, threads: int, q) -> None:
    """In a fresh process: saved bytes of forward passes at each node count, batches 1 and 2."""
    try:
        import torch

        from stbench import models
        from stbench.models.config import model_config

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        res = {}
        for n in nodes:
            model = models.build_model(name, _meta(n), **model_config(name, profile="paper")["params"])
            row = {"params": int(sum(p.numel() for p in model.parameters()))}
            for b in (1, 2):
                x = torch.zeros(b, 12, n, 3)
                x[..., 0] = torch.randn(b, 12, n)
                x[..., 1], x[..., 2] = 0.5, 3.0
                store: dict = {}
                with _saved_bytes_hook(store):
                    model(x)
                row[b] = int(sum(store.values()))
            res[n] = row
        q.put(res)
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        q.put({"error": f"{type(e).__name__}: {e}"})


def _spawn(target, args, timeout: float = 600.0):
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    try:
        res = q.get(timeout=timeout)
    finally:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
    if "error" in res:
        raise RuntimeError(f"perf scale: {target.__name__}{args[:3]}: {res['error']}")
    return res


def activation_fit(name: str, threads: int = 2) -> dict:
    """Saved activations F(N) (batch-independent) and S(N) (per sample) as a N + b N^2, and
    the parameter count P(N) = p0 + p1 N, from forward passes at FIT_NODES x batches 1, 2."""
    fixed, per, params = {}, {}, {}
    for n, row in _spawn(_fit_child, (name, tuple(FIT_NODES[name]), threads)).items():
        per[n] = float(row[2] - row[1])
        fixed[n] = float(max(0.0, row[1] - per[n]))
        params[n] = row["params"]
    return {"nodes": list(FIT_NODES[name]), "fixed": _solve(fixed, name in QUADRATIC_FIXED),
            "per_sample": _solve(per, False), "params": _solve({n: float(v) for n, v in params.items()}, False),
            "measured": {"fixed": fixed, "per_sample": per, "params": params}}


def _poly(c: tuple, n: int) -> float:
    return c[0] + c[1] * n + c[2] * n * n


def predict_bytes(fit: dict, nodes: int, batch: int) -> dict:
    """16 P + F(N) + B S(N) (float32 weights, grads, Adam moments + saved activations)."""
    p = _poly(fit["params"], nodes)
    saved = _poly(fit["fixed"], nodes) + batch * _poly(fit["per_sample"], nodes)
    return {"params": int(round(p)), "saved_bytes": float(saved), "bytes": float(16 * p + saved)}


# ----------------------------------------------------------------------------- the command

def measure_scale(shapes: Optional[Dict[str, int]] = None, steps: int = STEPS, models_step: bool = True,
                  gpu_table: bool = True, threads: Optional[int] = None, say=print) -> dict:
    import torch

    from stbench.benchmarks.env import machine_info
    from stbench.datasets.protocol import WindowedData
    from stbench.pruning.base import PruneContext

    if threads:
        torch.set_num_threads(threads)
    shapes = dict(shapes or SHAPES)
    t_start = time.perf_counter()
    out = {"machine": machine_info(),
           "setup": {"steps": steps, "step_minutes": STEP_MINUTES, "split": [0.6, 0.2, 0.2],
                     "in_steps": 12, "out_steps": 12, "graph": f"{DEGREE} nearest neighbours, symmetric",
                     "pruner_epochs": EPOCHS, "ratio": RATIO, "budget": BUDGET,
                     "model_step_batch": STEP_BATCH, "notes": [
                         "synthetic data of LargeST's shape (not the LargeST files)",
                         "model steps use reduced batches (STID 8, GWNet 1); GWNet at CA is extrapolated "
                         "from the activation fit, not run (one step takes minutes on 2 cores)",
                         "stprune-b reuses ST-Prune's complexity and stationarity scores (the same "
                         "computation); its setup_seconds adds ST-Prune's measured time for them"]},
           "shapes": {}}
    for label, nodes in shapes.items():
        say(f"perf scale: {label} ({nodes} nodes x {steps} steps)")
        row: dict = {"nodes": nodes}
        t0 = time.perf_counter()
        raw = synthetic_largest(nodes, steps)
        row["generate_seconds"] = time.perf_counter() - t0
        row["graph_edges"] = int((raw.adj > 0).sum() - nodes)
        t0 = time.perf_counter()
        data = WindowedData(raw, split=(0.6, 0.2, 0.2))
        row["window_seconds"] = time.perf_counter() - t0
        row["windows"] = {s: data.num_windows(s) for s in ("train", "val", "test")}
        row["data_bytes"] = data_bytes(data)
        tc = data.train_context()
        ctx = PruneContext(n=data.num_windows("train"), epochs=EPOCHS, seed=0, values=tc["values"],
                           starts=tc["starts"], in_steps=12, out_steps=12, adj=tc["adj"])
        row["train_context_bytes"] = int(tc["values"].nbytes + tc["starts"].nbytes)
        del data, raw, tc
        t0 = time.perf_counter()
        row["pruners"] = measure_pruners(ctx)
        row["pruners_seconds"] = time.perf_counter() - t0
        del ctx
        if models_step:
            row["models"] = {}
            for name, batch in STEP_BATCH.items():
                if (name, label) in STEP_SKIP:
                    continue
                say(f"perf scale: {label} {name} step (batch {batch})")
                row["models"][name] = model_step(name, nodes, batch, threads=threads or 2)
        out["shapes"][label] = row
    if gpu_table:
        say("perf scale: activation fits")
        out["gpu_memory_gib"] = gpu_memory(out, threads or 2)
    out["seconds_total"] = time.perf_counter() - t_start
    return out


def gpu_memory(result: dict, threads: int = 2) -> dict:
    """The GPU table (module doc) and the extrapolated GWNet step at CA."""
    from stbench.models.config import model_config

    fits = {m: activation_fit(m, threads) for m in GPU_MODELS}
    check: Dict[str, dict] = {}
    gla = result["shapes"].get("GLA", {}).get("models", {})
    for m, step in gla.items():
        pred = predict_bytes(fits[m], step["nodes"], step["batch"])
        check[m] = {"measured_saved_bytes": step["saved_bytes"], "predicted_saved_bytes": int(pred["saved_bytes"]),
                    "ratio": round(step["saved_bytes"] / max(pred["saved_bytes"], 1.0), 3)}
        if step.get("peak_added_bytes"):
            base = step["saved_bytes"] + 8 * step["params"]
            check[m]["transient_factor"] = round(step["peak_added_bytes"] / base, 3)
    factors = [c["transient_factor"] for c in check.values() if "transient_factor" in c]
    table: Dict[str, dict] = {}
    for m in GPU_MODELS:
        batch = int(model_config(m, profile="paper")["train"]["batch_size"])
        f = check.get(m, {}).get("transient_factor") or (max(factors) if factors else 2.0)
        table[m] = {}
        for ds, n in GPU_DATASETS.items():
            pred = predict_bytes(fits[m], n, batch)
            table[m][ds] = {"batch": batch, "gib": round(pred["bytes"] / 2**30, 2),
                            "gib_upper": round((16 * pred["params"] + f * pred["saved_bytes"]) / 2**30, 2)}
    ca = result["shapes"].get("CA")
    if ca is not None and "models" in ca and "gwnet" not in ca["models"]:
        pred = predict_bytes(fits["gwnet"], ca["nodes"], STEP_BATCH["gwnet"])
        ca["models"]["gwnet"] = {"nodes": ca["nodes"], "batch": STEP_BATCH["gwnet"], "extrapolated": True,
                                 "saved_bytes": int(pred["saved_bytes"]), "params": pred["params"]}
    return {"method": ("gib: 16 P + F(N) + B S(N) bytes (weights, gradients, Adam moments and the activations "
                       "saved for backward, float32; benchmarks/perf_scale.py); gib_upper: the saved part times "
                       "the CPU step's peak / saved ratio (transient_factor: temporaries and allocator caching "
                       "on this CPU, an upper bound for CUDA)"),
            "fit": {m: {k: v for k, v in f.items() if k != "measured"} for m, f in fits.items()},
            "fit_check": check, "table": table}


def main(out_path, threads: Optional[int] = None) -> dict:  # pragma: no cover - the CLI calls this
    import json

    from stbench.benchmarks.store import atomic_write_text

    res = measure_scale(threads=threads)
    atomic_write_text(out_path, json.dumps(res, indent=2, sort_keys=True) + "\n")
    return res


if __name__ == "__main__":  # pragma: no cover
    from pathlib import Path

    main(Path(__file__).resolve().parents[1] / "results" / "perf" / "scale.json", int(os.environ.get("THREADS", 2)))
