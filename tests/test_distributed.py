"""One run on two processes: real torch.distributed (gloo, CPU, 127.0.0.1).

- engine level (torch.multiprocessing.spawn, 2 ranks): the metric reduction and the
  sharded evaluation equal a single-process evaluation; a selection that differs across
  ranks is caught; an InfoBatch run whose kept counts need padding selects identical
  indices on both ranks and ends with identical metrics on both.
- grid level (``torchrun --nproc_per_node=2 run_benchmark.py run``): rank 0 decides which
  cells to skip, only rank 0 writes, and the DDP run's test metrics equal a single-process
  run with the same global batch.
"""
from __future__ import annotations

import json
import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stbench.benchmarks import distributed
from stbench.benchmarks.config import load_suite
from stbench.benchmarks.engine import build_run, evaluate, seed_everything, train
from stbench.benchmarks.runner import execute
from stbench.benchmarks.store import ResultsStore
from stbench.datasets.metrics import MaskedMetrics

REPO = Path(__file__).resolve().parents[1]
WORLD = 2

# Deterministic model (dropout 0) so that two processes can match one. max_steps 308 gives
# 200 training windows: random r=0.5 keeps k = 100 per epoch. With the interleaved split
# (rank r takes positions r, r+2, ...) the two ranks' local batches of 16 together are
# exactly the single process's batch of 32 -- also for the last, partial batch (4 = 2 + 2) --
# as long as k is divisible by the world size, so no sample is duplicated by padding and
# the averaged gradients equal the single-process ones up to floating-point rounding.
SUITE = """
name: ddp
profile: smoke
datasets: [SYNTHETIC]
models: [stid]
strategies: [full, random]
ratios: [0.5]
seeds: [0]
dataset: {max_steps: 308}
train: {epochs: 2, batch_size: 32, eval_batch_size: 16}
model_params: {stid: {dropout: 0.0}}
"""
# 301 steps -> 195 training windows: epoch 0 of InfoBatch (full data) needs one padded
# sample per epoch, later epochs keep a random count; padding must not break agreement.
PADDED = SUITE.replace("max_steps: 308", "max_steps: 301").replace("[full, random]", "[infobatch]") \
              .replace("epochs: 2", "epochs: 3")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def specs_of(tmp: Path, text: str, name: str):
    path = tmp / f"{name}.yaml"
    path.write_text(text)
    return path, load_suite(path)[1]


def random_batch(seed: int, b: int = 37, h: int = 12, n: int = 5):
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(b, h, n, generator=g) * 50
    y[y < 5] = 0.0  # zeros: excluded from MAPE
    pred = y + torch.randn(b, h, n, generator=g) * 3
    mask = torch.rand(b, h, n, generator=g) > 0.2
    return pred, y, mask


def _worker(rank: int, port: int, out: str, eval_cfg: dict, padded_cfg: dict) -> None:
    """One rank: runs every engine-level check and pickles what it saw to OUT/rank<r>.pkl."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(WORLD),
                      RANK=str(rank), LOCAL_RANK=str(rank), OMP_NUM_THREADS="1", STBENCH_DDP_CHECK="1")
    torch.set_num_threads(1)
    dist = distributed.init_from_env()
    res = {"world": dist.world, "rank": dist.rank}
    try:
        # metric reduction on a contiguous shard of a fixed batch
        pred, y, mask = random_batch(7)
        lo, hi = dist.shard_range(len(y))
        met = MaskedMetrics(12)
        met.update(pred[lo:hi], y[lo:hi], mask[lo:hi])
        dist.reduce_metrics(met)
        res["reduced"] = {a: getattr(met, a).clone() for a in distributed.METRIC_SUMS}
        # sharded evaluation of one model (same seed -> same weights on every rank)
        seed_everything(eval_cfg["seed"])
        data, model, _ = build_run(eval_cfg)
        met = evaluate(model, data, "test", 16, dist)
        res["eval"] = (met.compute(), met.per_step())
        # a selection that differs across ranks must be caught on every rank
        dist.assert_same("same", np.arange(5))
        try:
            dist.assert_same("differs", np.arange(5) + rank)
            res["caught"] = False
        except RuntimeError:
            res["caught"] = True
        # BatchNorm running statistics differ per rank after training; the engine broadcasts
        # rank 0's before evaluating (sync_buffers)
        bn = torch.nn.BatchNorm1d(3)
        bn.running_mean.fill_(float(rank + 1))
        dist.sync_buffers(bn)
        res["bn"] = bn.running_mean.clone()
        # a DDP run with padding
        r = train(padded_cfg, dist=dist)
        res["padded"] = {"digest": r.selected_digest, "test": r.test, "world": r.world_size,
                         "passes": [e.sample_passes for e in r.epochs], "steps": [e.steps for e in r.epochs]}
    finally:
        with open(Path(out) / f"rank{rank}.pkl", "wb") as f:
            pickle.dump(res, f)
        distributed.shutdown()


@pytest.fixture(scope="module")
def spawned(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    _, specs = specs_of(tmp, SUITE, "s")
    _, padded = specs_of(tmp, PADDED, "p")
    eval_cfg, padded_cfg = specs[0].config, padded[0].config
    torch.multiprocessing.spawn(_worker, args=(free_port(), str(tmp), eval_cfg, padded_cfg), nprocs=WORLD,
                                join=True)
    ranks = [pickle.loads((tmp / f"rank{r}.pkl").read_bytes()) for r in range(WORLD)]
    return ranks, eval_cfg, padded_cfg


def test_metric_reduction_equals_single_process(spawned):
    ranks, _, _ = spawned
    pred, y, mask = random_batch(7)
    single = MaskedMetrics(12)
    single.update(pred, y, mask)
    for r in ranks:
        for a in distributed.METRIC_SUMS:
            got, want = r["reduced"][a], getattr(single, a)
            if "count" in a:  # integers in float64: exact
                assert torch.equal(got, want), a
            else:  # float64 sums of two shards vs one: equal up to summation order
                torch.testing.assert_close(got, want, rtol=1e-12, atol=0)


def test_sharded_evaluation_equals_single_process(spawned):
    ranks, eval_cfg, _ = spawned
    seed_everything(eval_cfg["seed"])
    data, model, _ = build_run(eval_cfg)
    assert data.num_windows("test") % WORLD == 1  # uneven shards (29 + 28 windows)
    met = evaluate(model, data, "test", 16)
    want, want_steps = met.compute(), met.per_step()
    for r in ranks:
        got, got_steps = r["eval"]
        assert got["count"] == want["count"]
        for k in want:
            assert got[k] == pytest.approx(want[k], rel=1e-12), k
        for k in want_steps:
            np.testing.assert_allclose(got_steps[k], want_steps[k], rtol=1e-12)


def test_batchnorm_buffers_are_rank_0s_before_evaluation(spawned):
    ranks, _, _ = spawned
    for r in ranks:
        assert torch.equal(r["bn"], torch.ones(3))


def test_mismatched_selection_is_caught_on_every_rank(spawned):
    ranks, _, _ = spawned
    assert [r["caught"] for r in ranks] == [True] * WORLD


def test_padded_run_identical_selection_on_both_ranks(spawned):
    ranks, _, padded_cfg = spawned
    a, b = (r["padded"] for r in ranks)
    assert a["world"] == WORLD
    assert a["passes"][0] == 195 and any(p % WORLD for p in a["passes"])  # padding was needed
    assert a["digest"] == b["digest"]  # every epoch's selection, on both ranks
    assert a["test"] == b["test"]  # one all-reduced evaluation
    assert a["steps"] == b["steps"]
    assert a["steps"][0] == -(-195 // 32)  # padded to 196 = 98 per rank, 7 local batches of 16
    assert np.isfinite(a["test"]["mae"])


def test_torchrun_grid_matches_single_process(tmp_path):
    suite, specs = specs_of(tmp_path, SUITE, "grid")
    full, rnd = specs
    out = tmp_path / "out"
    store = ResultsStore(out)
    assert execute(full, store) == "finished"  # done before: torchrun's rank 0 must skip it
    before = (out / "runs" / full.run_id / "metrics.json").read_bytes()
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", STBENCH_DDP_CHECK="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={WORLD}", "--master_addr",
           "127.0.0.1", "--master_port", str(free_port()), "run_benchmark.py", "run", str(suite), "--out",
           str(out), "--no-report"]
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("finished 1, failed 0, skipped 1") == 1  # rank 0 alone reports
    assert (out / "runs" / full.run_id / "metrics.json").read_bytes() == before
    d = out / "runs" / rnd.run_id
    for f in ("config.yaml", "metrics.json", "timing.json", "curve.csv", "env.json"):
        assert (d / f).is_file(), f
    m = json.loads((d / "metrics.json").read_text())
    assert m["world_size"] == WORLD
    assert len((out / "results.csv").read_text().splitlines()) == 3

    single = train(rnd.config)  # one process, the same global batch of 32
    assert m["selected_digest"] == single.selected_digest
    assert m["sample_passes"] == sum(e.sample_passes for e in single.epochs) == 200
    assert m["steps"] == sum(e.steps for e in single.epochs)
    for k in ("mae", "rmse", "mape", "mae@3", "mae@12"):
        assert m["test"][k] == pytest.approx(single.test[k], rel=1e-4), k
