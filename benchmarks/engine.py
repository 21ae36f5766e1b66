"""The training engine: the only place where a data set, a model and a pruner meet.

Per epoch e::

    sel = pruner.select(e)                                   # pruner time
    for batch b of a seeded permutation of sel.indices:      # train-loop time
        x, y, m = data.gather("train", b)
        p = scaler.inverse(model(x))
        l_i = sum_hn m |p - y| / sum_hn m                     # per-sample masked MAE
        loss = LOSSES[train.loss](w, l, counts); backward; clip; step
    pruner.update(ids, l, el2n)                              # pruner time
    validate (masked metrics, sums and counts)               # eval time
    if validation improved: keep the weights, evaluate them on test   # eval time

The losses stay on the device until the end of the epoch (one host sync per epoch).
The test metrics of every improving checkpoint are recorded with its epoch, so a run's
whole trajectory (time to accuracy) is available; the last of them is the run's result.

Budgets (strategy.budget = b): the pruner plans its counts against E = train.epochs
(PruneContext.epochs); the ``full`` strategy instead trains round(b E) epochs with every
learning-rate milestone m moved to round(m * E_b / E), kept distinct and ordered (a schedule
of the shorter length, not the first epochs of the long one): see :func:`run_schedule` and
pruning/schedule.py.

Equal steps (``train.equal_steps: true``, issue 26): the pruner's context carries the batch
size, and budgeted plans are step-matched (pruning.schedule.step_matched_counts): at equal
passes a pruned run takes the optimizer steps of the shortened-schedule control.

Pass grid (``train.pass_grid: f``, off by default): validation also runs on a common grid of
sample passes, every g = max(1, round(f n)) passes (f = 0.25: every n / 4, whatever a run's
epoch size), at the first batch boundary at or after each grid point p_j = j g (overshoot
< one batch; a point inside an epoch's last batch is read from the epoch-end validation).
``RunResult.pass_grid`` holds one row per grid point::

    passes         p_j (the grid value, common to every run of the workload)
    train_seconds  train-loop seconds spent up to that evaluation (evaluations excluded)
    val_mae        validation MAE of the weights at that point
    epoch          the epoch it fell in

(written to ``passgrid.csv`` in the run directory). The grid evaluations run in eval mode
under no_grad and draw no random numbers, so the trained weights, the curve and the test
metrics are those of the same run without a grid; their seconds are counted in
eval_seconds and in ``RunResult.pass_grid_seconds``.

Tuning trials (``strategy.tuning``, a suite's ``tuning:`` block): ``lr_mult`` multiplies
train.lr for this run (the workload's train config is unchanged).

Under torchrun (``dist.active``, see benchmarks/distributed.py) every rank runs this same
loop on its share of the shuffled selection with batch B / W, the model wrapped in
DistributedDataParallel; the per-sample losses are all-gathered before ``pruner.update``
and the evaluation sums are all-reduced. Without torchrun nothing of that runs.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from stbench.benchmarks import distributed
from stbench.registry import Registry
from stbench.datasets.metrics import MaskedMetrics, per_sample_masked_mae, per_sample_sq_error

OPTIMIZERS: Registry = Registry("optimizer")


# builder(params, train cfg, model=None) -> optimizer; ``muon`` (Muon + AdamW, split by
# train.muon_params) is in benchmarks/optimizers.py
@OPTIMIZERS.register("adam")
def _adam(params, cfg, model=None):
    return torch.optim.Adam(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])


@OPTIMIZERS.register("adamw")
def _adamw(params, cfg, model=None):
    return torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])


@OPTIMIZERS.register("sgd")
def _sgd(params, cfg, model=None):
    """v <- mu v + g + lambda w;  w <- w - lr (g + mu v if nesterov else v)  (torch.optim.SGD)."""
    return torch.optim.SGD(params, lr=cfg["lr"], momentum=cfg.get("momentum", 0.9),
                           weight_decay=cfg["weight_decay"], nesterov=bool(cfg.get("nesterov", False)))


LOSSES: Registry = Registry("training loss")


@LOSSES.register("sample_mean")
def _sample_mean_loss(w: torch.Tensor, per: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """mean_i w_i l_i over the batch (each sample's masked MAE counts once)."""
    return (w * per).mean()


@LOSSES.register("pooled")
def _pooled_loss(w: torch.Tensor, per: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sum_i w_i l_i c_i / sum_i c_i, c_i = valid entries of sample i (mask (B, H, N)):
    BasicTS' masked MAE over the batch (entries count once)."""
    counts = mask.sum(tuple(range(1, mask.ndim))).to(per.dtype)
    return (w * per * counts).sum() / counts.sum().clamp_min(1.0)


def run_schedule(cfg: dict) -> tuple:
    """(epochs, milestones) the engine trains with: train.epochs and train.milestones, or,
    for ``full`` at budget b, round(b E) epochs (at least 1) and milestones scaled to them,
    distinct and ordered (pruning/schedule.py ``shorten``: one rule with
    ``pruning.shortened_schedule``; where too few epochs hold them apart, decays merge)."""
    tcfg = cfg["train"]
    epochs, milestones = int(tcfg["epochs"]), list(tcfg["milestones"] or [])
    budget = cfg["strategy"].get("budget")
    if budget is None or cfg["strategy"]["name"] != "full":
        return epochs, milestones
    from stbench.pruning.schedule import shorten
    return shorten(epochs, float(budget), milestones)


class DivergenceError(RuntimeError):
    """The training loss became NaN or inf."""


@dataclass
class EpochRecord:
    epoch: int
    train_seconds: float
    eval_seconds: float
    pruner_seconds: float
    wall_seconds: float  # cumulative train + eval + pruner seconds since the start
    sample_passes: int
    steps: int
    kept_fraction: float
    weight_sum: float
    train_loss: float
    val_mae: float
    lr: float
    pruner_info: dict = field(default_factory=dict)
    test: Optional[Dict[str, float]] = None  # test metrics of this epoch's weights when val improved


@dataclass
class RunResult:
    test: Dict[str, float]
    test_per_step: Dict[str, list]
    best_epoch: int
    val_mae_best: float
    epochs: List[EpochRecord]
    n_train: int
    params: int
    data_files: List[str]
    selected_digest: str  # sha256 over every epoch's selected indices (determinism checks)
    world_size: int = 1  # processes that trained the run (torchrun)
    pruner_setup_seconds: float = 0.0  # one-off precomputation in the pruner's constructor (in epoch 0's pruner time)
    reference_epochs: int = 0  # E of the workload (a shortened full-data control trains fewer)
    budget_planned: Optional[float] = None  # the pruner's planned passes / (E n), when it plans a budget
    pass_grid: List[dict] = field(default_factory=list)  # train.pass_grid rows (module doc), else empty
    pass_grid_seconds: float = 0.0  # seconds of the grid's extra validations (part of eval_seconds)


PASSGRID_COLUMNS = ("passes", "train_seconds", "val_mae", "epoch")


def write_passgrid(path, rows: List[dict]) -> None:
    """``passgrid.csv``: one line per pass-grid point, columns PASSGRID_COLUMNS (module doc)."""
    from stbench.benchmarks.store import atomic_write_text

    lines = [",".join(PASSGRID_COLUMNS)]
    lines += [f"{int(r['passes'])},{float(r['train_seconds']):.6f},{float(r['val_mae']):.6f},{int(r['epoch'])}"
              for r in rows]
    atomic_write_text(path, "\n".join(lines) + "\n")


def seed_everything(seed: int) -> None:
    """Seed torch and numpy's legacy global RNG once, at the start of a run."""
    import random

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@torch.no_grad()
def evaluate(model, data, split: str, batch_size: int, dist=None, mape_min_target: float = 0.0) -> MaskedMetrics:
    """Masked metrics over a whole split; the last partial batch is kept.

    Under DDP each rank evaluates its contiguous shard and the sums/counts are all-reduced.
    """
    model.eval()
    met = MaskedMetrics(data.out_steps, device=data.series.device, mape_min_target=mape_min_target)
    n = data.num_windows(split)
    lo, hi = dist.shard_range(n) if dist is not None and dist.active else (0, n)
    for s in range(lo, hi, batch_size):
        idx = torch.arange(s, min(s + batch_size, hi))
        x, y, m = data.gather(split, idx)
        pred = data.scaler.inverse(model(x)[..., 0])
        met.update(pred, y, m)
    if dist is not None and dist.active:
        dist.reduce_metrics(met)
    return met


def build_run(cfg: dict, data_root=None, data=None):
    """Data set, model and pruner for a resolved run config (``data``: a prepared WindowedData)."""
    from stbench import datasets
    from stbench import models
    from stbench.pruning.base import PruneContext, build_pruner

    dcfg = cfg["dataset"]
    data = data or datasets.load_windowed(dcfg["name"], data_root=data_root, in_steps=dcfg["in_steps"],
                                  out_steps=dcfg["out_steps"], split=dcfg["split"],
                                  max_steps=dcfg["max_steps"],
                                  scaler_ignore_null=dcfg["scaler_ignore_null"],
                                  train_fraction=dcfg.get("train_fraction", 1.0))
    model = models.build_model(cfg["model"]["name"], data.meta, **cfg["model"]["params"])
    tc = data.train_context()
    equal = bool(cfg["train"].get("equal_steps", False))
    ctx = PruneContext(n=data.num_windows("train"), epochs=run_schedule(cfg)[0], seed=cfg["seed"],
                       values=tc["values"], starts=tc["starts"], in_steps=tc["in_steps"],
                       out_steps=tc["out_steps"], adj=tc["adj"],
                       batch_size=int(cfg["train"]["batch_size"]) if equal else None)
    s = cfg["strategy"]
    budget = {} if s.get("budget") is None or s["name"] == "full" else {"budget": float(s["budget"])}
    t0 = time.perf_counter()
    pruner = build_pruner(s["name"], ctx, ratio=s["ratio"], **budget, **s["params"])
    pruner.setup_seconds = time.perf_counter() - t0  # precomputed scores count as pruner time
    return data, model, pruner


def train(cfg: dict, data_root=None, on_epoch: Optional[Callable[[EpochRecord], None]] = None,
          progress: bool = False, data=None, dist: Optional[distributed.DistContext] = None) -> RunResult:
    """Train one resolved run config; returns metrics and per-epoch records.

    ``dist``: the process group context (default: this process's, see distributed.current()).
    Raises DivergenceError if the training loss becomes non-finite.
    """
    import hashlib

    dist = dist or distributed.current()
    tcfg = cfg["train"]
    lr_mult = float((cfg["strategy"].get("tuning") or {}).get("lr_mult", 1.0))
    if lr_mult != 1.0:  # a tuning trial (benchmarks/config.py tuning_trials): train.lr times lr_mult
        tcfg = {**tcfg, "lr": float(tcfg["lr"]) * lr_mult}
    if tcfg.get("threads"):
        torch.set_num_threads(int(tcfg["threads"]))
    seed_everything(cfg["seed"])
    # Bitwise-repeatable runs for a fixed thread count: e.g. the CPU backward of embedding
    # lookups (index_put_ with accumulate) is otherwise reduced in a thread-dependent order.
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = dist.device(tcfg.get("device", "cpu"))
    data, model, pruner = build_run(cfg, data_root, data)
    data.to(device)
    model.to(device)
    net, bs_local = model, int(tcfg["batch_size"])  # what the train loop forwards, and its batch
    if dist.active:
        bs_local = dist.local_batch_size(bs_local)
        net = dist.wrap(model, device)
        torch.manual_seed(dist.rank_seed(cfg["seed"]))  # same weights everywhere, own dropout masks
    opt = OPTIMIZERS.get(tcfg["optimizer"])(model.parameters(), tcfg, model=model)
    epochs, milestones = run_schedule(cfg)
    sched = (torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=tcfg["gamma"])
             if milestones else None)
    n_train = data.num_windows("train")
    ebs, clip = int(tcfg["eval_batch_size"]), tcfg.get("clip")
    loss_fn = LOSSES.get(tcfg.get("loss", "sample_mean"))
    mape_min = float(cfg["dataset"].get("mape_min_target") or 0.0)
    order_rng = np.random.default_rng([int(cfg["seed"]), 0x5EED])  # the engine's own shuffle stream
    digest = hashlib.sha256()
    best_state, best_val, best_epoch, best_test = None, math.inf, -1, None
    records: List[EpochRecord] = []
    wall = 0.0
    grid_frac = tcfg.get("pass_grid")
    grid_step = max(1, int(round(float(grid_frac) * n_train))) if grid_frac else 0
    grid_next, grid_rows, grid_seconds = grid_step, [], 0.0
    passes_done, train_done = 0, 0.0  # before the current epoch
    has_val = data.num_windows("val") > 0
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=epochs, desc=f"{cfg['model']['name']}/{cfg['strategy']['label']}", leave=False)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        sel = pruner.select(epoch)
        if dist.active and dist.check:
            dist.assert_same(f"epoch {epoch} selection of {pruner.registry_name}", sel.indices, sel.weights)
        t_select = time.perf_counter() - t0
        if epoch == 0:
            t_select += getattr(pruner, "setup_seconds", 0.0)
        digest.update(np.ascontiguousarray(sel.indices).tobytes())

        # ---- train loop
        net.train()
        t1 = time.perf_counter()
        perm = order_rng.permutation(len(sel.indices))
        order, order_w = sel.indices[perm], sel.weights[perm]
        if dist.active:  # this rank's share: positions r, r + W, ... of the (padded) order
            pos = dist.shard_positions(len(order))
            order_local, w_local = order[pos], order_w[pos]
        else:
            order_local, w_local = order, order_w
        ids = torch.from_numpy(order_local)
        wts = torch.from_numpy(w_local).to(device)
        losses, el2ns = [], []
        want_el2n = pruner.wants_el2n  # EL2N only for the pruners that score with it
        loss_sum = torch.zeros((), device=device)
        steps = 0
        t_grid = 0.0  # this epoch's mid-epoch pass-grid validations (not train-loop time)
        world = dist.world if dist.active else 1
        for s in range(0, len(ids), bs_local):
            b_ids = ids[s:s + bs_local]
            x, y, m = data.gather("train", b_ids)
            pred = data.scaler.inverse(net(x)[..., 0])
            per = per_sample_masked_mae(pred, y, m)
            loss = loss_fn(wts[s:s + bs_local], per, m)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), float(clip))
            opt.step()
            steps += 1
            with torch.no_grad():
                d = per.detach()
                losses.append(d)
                if want_el2n:
                    el2ns.append(per_sample_sq_error(pred.detach(), y, m))
                loss_sum += d.sum()
            if grid_step and has_val and s + bs_local < len(ids):
                seen = passes_done + min(len(order), (s + bs_local) * world)
                if seen >= grid_next:  # a grid point inside the epoch (the last batch: epoch end)
                    tg = time.perf_counter()
                    if dist.active:
                        dist.sync_buffers(model)
                    v = float(evaluate(model, data, "val", ebs, dist).compute(())["mae"])
                    net.train()
                    spent = train_done + (tg - t1 - t_grid)
                    while grid_next <= seen:
                        grid_rows.append({"passes": grid_next, "train_seconds": spent, "val_mae": v,
                                          "epoch": epoch})
                        grid_next += grid_step
                    t_grid += time.perf_counter() - tg
        if dist.active:  # every rank gets every sample's (loss, el2n), in `order`, padding dropped
            stats = dist.gather_epoch(torch.stack([torch.cat(losses), torch.cat(el2ns if want_el2n else losses)], 1), len(order),
                                      ids if dist.check else None, order)
            all_loss, all_el2n = np.ascontiguousarray(stats[:, 0]), np.ascontiguousarray(stats[:, 1])
            t_train = time.perf_counter() - t1 - t_grid
            train_loss = float(all_loss.sum(dtype=np.float64)) / max(1, len(order))
        else:
            all_loss = torch.cat(losses).cpu().numpy() if losses else np.zeros(0, np.float32)
            all_el2n = torch.cat(el2ns).cpu().numpy() if el2ns else None
            t_train = time.perf_counter() - t1 - t_grid
            train_loss = float(loss_sum) / max(1, len(ids))
        if not math.isfinite(train_loss):
            raise DivergenceError(f"training loss is {train_loss} at epoch {epoch}")

        t2 = time.perf_counter()
        pruner.update(order, all_loss, el2n=all_el2n if want_el2n else None)
        t_update = time.perf_counter() - t2
        lr = float(opt.param_groups[0]["lr"])
        if sched is not None:
            sched.step()

        # ---- validation
        t3 = time.perf_counter()
        if dist.active:
            dist.sync_buffers(model)  # every rank evaluates rank 0's model (BatchNorm statistics)
        val = evaluate(model, data, "val", ebs, dist).compute(()) if data.num_windows("val") else {"mae": train_loss}
        val_mae = val["mae"]
        test_now = None
        if val_mae < best_val or best_state is None:
            best_val, best_epoch = val_mae, epoch
            best_state = copy.deepcopy(model.state_dict())
            best_test = evaluate(model, data, "test", ebs, dist, mape_min)
            test_now = {k: v for k, v in best_test.compute(()).items() if k != "count"}
        t_eval = time.perf_counter() - t3 + t_grid
        passes_done += len(order)
        train_done += t_train
        while grid_step and has_val and grid_next <= passes_done:  # points in the last batch
            grid_rows.append({"passes": grid_next, "train_seconds": train_done, "val_mae": float(val_mae),
                              "epoch": epoch})
            grid_next += grid_step
        grid_seconds += t_grid
        wall += t_train + t_eval + t_select + t_update
        rec = EpochRecord(epoch=epoch, train_seconds=t_train, eval_seconds=t_eval,
                          pruner_seconds=t_select + t_update, wall_seconds=wall,
                          sample_passes=int(len(order)), steps=steps, kept_fraction=len(order) / n_train,
                          weight_sum=float(sel.weights.sum()), train_loss=train_loss, val_mae=float(val_mae),
                          lr=lr, pruner_info=dict(pruner.extra_info() or {}), test=test_now)
        records.append(rec)
        if on_epoch:
            on_epoch(rec)
        if bar is not None:
            bar.set_postfix(loss=f"{train_loss:.3f}", val=f"{val_mae:.3f}", kept=f"{rec.kept_fraction:.2f}")
            bar.update(1)
    if bar is not None:
        bar.close()
    model.load_state_dict(best_state)
    test = best_test  # the best checkpoint's test metrics, evaluated when it was found
    from stbench.models import count_params
    planned = getattr(pruner, "planned_counts", None)
    budget_planned = (float(np.sum(planned)) / (n_train * int(tcfg["epochs"]))
                      if planned is not None and cfg["strategy"].get("budget") is not None else None)
    return RunResult(test={**test.compute(), **test.step_means()},  # pooled, and the mean of per-step values
                     test_per_step=test.per_step(), best_epoch=best_epoch, val_mae_best=float(best_val), epochs=records, n_train=n_train,
                     params=count_params(model), data_files=[str(f) for f in data.raw.files],
                     selected_digest=digest.hexdigest(), world_size=dist.world,
                     pruner_setup_seconds=float(getattr(pruner, "setup_seconds", 0.0)),
                     reference_epochs=int(tcfg["epochs"]), budget_planned=budget_planned,
                     pass_grid=grid_rows, pass_grid_seconds=grid_seconds)


from stbench.benchmarks import optimizers as _optimizers  # noqa: E402,F401  (registers muon)
