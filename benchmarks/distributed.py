"""One run on several processes: torch.distributed helpers for the engine and the runner.

``torchrun --nproc_per_node=K run_benchmark.py run SUITE.yaml`` starts K processes with
WORLD_SIZE / RANK / LOCAL_RANK set; :func:`session` joins them into a process group
(backend ``gloo`` on CPU; ``cpu:gloo,cuda:nccl`` where CUDA exists, so gradients go over
NCCL and the small control messages below over gloo). Without WORLD_SIZE (or with 1)
nothing here is used and the engine runs its single-process path unchanged.

What every rank does for one run (W ranks, rank r, global batch B, b = B / W per rank)::

    same data, model, pruner and seed on every rank       -> same selection, no broadcast
    assert_same(selection digest)                         -> 32 bytes per rank per epoch
    order = selection shuffled by the engine's own stream (identical on every rank)
    positions 0..k-1 padded to ceil(k/W)*W by repeating from the start;
    rank r trains on positions r, r+W, r+2W, ... in local batches of b
        => local batch j of every rank together = global batch j of a single process
    DDP averages the gradients of the local means = the global mean (equal local sizes)
    per-sample (loss, el2n) all-gathered, put back in position order, padding dropped
        => every rank calls pruner.update with the same arrays as a single process
    evaluation: rank r takes windows [n r / W, n (r+1) / W); MaskedMetrics sums and
        counts all-reduced => the single-process metrics (up to float64 summation order)

Only rank 0 writes the results store; rank 0 decides skip / lock and broadcasts it.
"""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.distributed as tdist

#: MaskedMetrics attributes that are sums or counts over samples (reduced with SUM).
METRIC_SUMS = ("abs_sum", "sq_sum", "ape_sum", "count", "ape_count", "abs_target")
#: process-group timeout: rank 0 alone writes files and reports while the others wait.
TIMEOUT = datetime.timedelta(minutes=60)


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: world size, rank, local rank (world 1 = single process).

    ``check``: compare each epoch's selection across ranks (one 32-byte all_gather per
    epoch; on unless STBENCH_DDP_CHECK=0).
    """

    world: int = 1
    rank: int = 0
    local_rank: int = 0
    check: bool = True

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ------------------------------------------------------------------ set-up
    def device(self, requested: str) -> torch.device:
        """The run's device; under DDP a CUDA device becomes ``cuda:<local rank>``."""
        dev = torch.device(requested)
        if self.active and dev.type == "cuda":
            return torch.device("cuda", self.local_rank % max(1, torch.cuda.device_count()))
        return dev

    def local_batch_size(self, batch_size: int) -> int:
        """Per-rank batch b = B / W of the global batch B (``train.batch_size``)."""
        if batch_size % self.world:
            raise ValueError(f"train.batch_size={batch_size} is the global batch and must be divisible "
                             f"by the number of processes {self.world} (each takes batch_size // {self.world})")
        return batch_size // self.world

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """DistributedDataParallel around ``model`` (parameters shared with it).

        BatchNorm becomes SyncBatchNorm on CUDA (statistics over the global batch, as in a
        single process); on CPU torch has no SyncBatchNorm and each rank normalises its own
        local batch.
        """
        from torch.nn.parallel import DistributedDataParallel

        if device.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        ids = [device.index] if device.type == "cuda" else None
        # static_graph: every step uses the same parameters; also tolerates unused ones.
        return DistributedDataParallel(model, device_ids=ids, static_graph=True)

    def sync_buffers(self, model: torch.nn.Module) -> None:
        """Broadcast rank 0's buffers (BatchNorm running statistics) to every rank.

        DDP broadcasts buffers at the start of each forward, so after the last training
        step every rank holds the statistics of its own last local batch; evaluating
        without this would score a different model on each rank.
        """
        for buf in model.buffers():
            tdist.broadcast(buf.data, src=0)

    def rank_seed(self, seed: int) -> int:
        """A torch seed per (run seed, rank): dropout masks differ between ranks."""
        return int(np.random.SeedSequence([int(seed), self.rank, 0xDD9]).generate_state(1)[0])

    # ------------------------------------------------------------------ training data
    def shard_positions(self, k: int) -> np.ndarray:
        """Positions (into the epoch's shuffled order of k samples) this rank trains on.

        The order is padded to P = ceil(k / W) * W by repeating from its start
        (DistributedSampler-style); rank r takes positions r, r + W, ... (P / W of them).
        """
        per = -(-k // self.world)
        return (np.arange(per * self.world) % max(k, 1))[self.rank::self.world]

    def gather_epoch(self, values: torch.Tensor, k: int, local_ids: Optional[torch.Tensor] = None,
                     order: Optional[np.ndarray] = None) -> np.ndarray:
        """All ranks' per-sample rows (P / W, C) -> (k, C) numpy in position order, padding dropped.

        Inverse of :meth:`shard_positions`: row i of rank r is position i * W + r. With
        ``local_ids`` and ``order`` (check mode) the gathered ids must equal ``order``.
        """
        t = values.detach().to("cpu", torch.float32).contiguous()
        parts = [torch.empty_like(t) for _ in range(self.world)]
        tdist.all_gather(parts, t)
        full = torch.stack(parts, 1).reshape(-1, *t.shape[1:])[:k]
        if local_ids is not None and order is not None:
            ids = local_ids.to("cpu", torch.int64).contiguous()
            id_parts = [torch.empty_like(ids) for _ in range(self.world)]
            tdist.all_gather(id_parts, ids)
            got = torch.stack(id_parts, 1).reshape(-1)[:k].numpy()
            if not np.array_equal(got, order):
                raise RuntimeError("gathered per-sample statistics are out of order across ranks")
        return full.numpy()

    def assert_same(self, what: str, *arrays: np.ndarray) -> None:
        """Raise RuntimeError on every rank if ``arrays`` differ on any rank (sha256 digests)."""
        h = hashlib.sha256()
        for a in arrays:
            h.update(np.ascontiguousarray(a).tobytes())
        mine = torch.from_numpy(np.frombuffer(h.digest(), dtype=np.int64).copy())
        parts = [torch.empty_like(mine) for _ in range(self.world)]
        tdist.all_gather(parts, mine)
        bad = [r for r, p in enumerate(parts) if not torch.equal(p, parts[0])]
        if bad:
            raise RuntimeError(f"{what} differs across ranks: ranks {bad} disagree with rank 0")

    # ------------------------------------------------------------------ evaluation
    def shard_range(self, n: int) -> Tuple[int, int]:
        """This rank's contiguous slice [lo, hi) of n evaluation windows."""
        return n * self.rank // self.world, n * (self.rank + 1) // self.world

    def reduce_metrics(self, met) -> None:
        """All-reduce (SUM) a MaskedMetrics' sums and counts in place."""
        sums = [getattr(met, a) for a in METRIC_SUMS]
        packed = torch.stack([s.to("cpu", torch.float64) for s in sums])
        tdist.all_reduce(packed, op=tdist.ReduceOp.SUM)
        for s, r in zip(sums, packed):
            s.copy_(r.to(s.device))

    # ------------------------------------------------------------------ control
    def broadcast_choice(self, value: Optional[str], choices: Sequence[str]) -> str:
        """Rank 0's ``value`` (one of ``choices``) on every rank."""
        t = torch.tensor([list(choices).index(value) if self.is_main else -1], dtype=torch.int64)
        tdist.broadcast(t, src=0)
        return choices[int(t)]

    def barrier(self) -> None:
        if self.active:
            tdist.barrier()


SINGLE = DistContext()
_current: DistContext = SINGLE


def current() -> DistContext:
    """The context of this process (SINGLE unless a process group was joined)."""
    return _current


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def init_from_env() -> DistContext:
    """Join the process group described by WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR/PORT."""
    global _current
    world = env_world_size()
    if world <= 1:
        return SINGLE
    missing = [v for v in ("RANK", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise RuntimeError(f"WORLD_SIZE={world} but {', '.join(missing)} unset: start with torchrun")
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    if not tdist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(local % torch.cuda.device_count())
            backend = "cpu:gloo,cuda:nccl"
        else:
            backend = "gloo"
        tdist.init_process_group(backend=backend, init_method="env://", world_size=world, rank=rank,
                                 timeout=TIMEOUT)
    _current = DistContext(world=world, rank=rank, local_rank=local,
                           check=os.environ.get("STBENCH_DDP_CHECK", "1") != "0")
    return _current


def shutdown() -> None:
    global _current
    if tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()
    _current = SINGLE


@contextlib.contextmanager
def session() -> Iterator[DistContext]:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); leave it after."""
    if env_world_size() <= 1 or tdist.is_initialized():
        yield current()
        return
    ctx = init_from_env()
    try:
        yield ctx
    finally:
        shutdown()


@contextlib.contextmanager
def submitit_session() -> Iterator[DistContext]:
    """Inside a submitit job: with several tasks, export torch's env:// variables, then join."""
    import submitit

    try:
        tasks = submitit.JobEnvironment().num_tasks
    except RuntimeError:  # not inside a submitit job
        tasks = 1
    if tasks > 1:
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
    with session() as ctx:
        yield ctx
