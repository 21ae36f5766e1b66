"""A plain PyTorch training loop with one of the suite's pruners (no engine, no config).

    python examples/own_loop.py                          # ST-Prune, r = 0.5, 6 epochs
    python examples/own_loop.py --strategy infobatch --epochs 8
    python examples/own_loop.py --steps 3                # at most 3 batches per epoch (CI)

The data: the suite's embedded SYNTHETIC road network (no download) under the standard
protocol (12 in / 12 out, chronological 7:1:2 split, z-scored inputs), its training windows
wrapped as an ordinary ``torch.utils.data.Dataset``. The model: a small MLP over the
flattened window. The pruner: ``pruning.make_pruner`` + ``pruning.PrunedSampler``; the
lines marked ``# <- pruning`` are all the loop needs (docs/own_loop.md).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages first

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from stbench import datasets
from stbench.datasets.metrics import MaskedMetrics, per_sample_masked_mae
from stbench.pruning import IndexedDataset, PrunedSampler, make_pruner


class TrainWindows(Dataset):
    """Training window i of a ``datasets.WindowedData`` as (x (P, N, 3), y (Q, N), mask (Q, N))."""

    def __init__(self, data):
        self.data = data

    def __len__(self) -> int:
        return self.data.num_windows("train")

    def __getitem__(self, i):
        x, y, m = self.data.gather("train", [i])
        return x[0], y[0], m[0]


class MLP(nn.Module):
    """(B, P, N, C) -> (B, Q, N) z-scored forecasts."""

    def __init__(self, in_steps: int, out_steps: int, nodes: int, channels: int, hidden: int = 128):
        super().__init__()
        self.out_steps, self.nodes = out_steps, nodes
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_steps * nodes * channels, hidden), nn.ReLU(),
                                 nn.Linear(hidden, out_steps * nodes))

    def forward(self, x):
        return self.net(x).view(-1, self.out_steps, self.nodes)


@torch.no_grad()
def val_mae(model, data, batch: int = 256) -> float:
    """Masked MAE over the validation split (physical units)."""
    model.eval()
    met = MaskedMetrics(data.out_steps)
    n = data.num_windows("val")
    for s in range(0, n, batch):
        x, y, m = data.gather("val", torch.arange(s, min(s + batch, n)))
        met.update(data.scaler.inverse(model(x)), y, m)
    return float(met.compute(())["mae"])


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strategy", default="stprune", help="a registered strategy (stprune, infobatch, "
                    "random, ...; python run_benchmark.py list)")
    ap.add_argument("--ratio", type=float, default=0.5, help="prune ratio r (default 0.5)")
    ap.add_argument("--budget", type=float, default=None, help="a compute budget b in (0, 1] instead "
                    "of a ratio (exact-mode strategies, e.g. random; infobatch/stprune need "
                    "budgeted: true, which this example does not set)")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--steps", type=int, default=0, help="at most this many batches per epoch "
                    "(0 = all; for CI)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--series-steps", type=int, default=2000,
                    help="time steps of the synthetic series to use (default 2000)")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    return ap.parse_args(argv)


def main(argv=None) -> list:
    """Train and print one line per epoch; returns the per-epoch dicts."""
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = datasets.load_windowed("SYNTHETIC", max_steps=args.series_steps)
    train_ds = TrainWindows(data)
    torch.manual_seed(args.seed)  # this script's own choice: reproducible model initialisation
    model = MLP(data.in_steps, data.out_steps, data.meta.num_nodes, 3)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)

    pruner = make_pruner(args.strategy, n=len(train_ds), epochs=args.epochs, seed=args.seed,  # <- pruning
                         ratio=args.ratio, budget=args.budget, **data.train_context())
    sampler = PrunedSampler(pruner)                                                            # <- pruning
    loader = DataLoader(IndexedDataset(train_ds), batch_size=args.batch_size, sampler=sampler,  # <- pruning
                        num_workers=args.workers, generator=torch.Generator().manual_seed(args.seed))

    print(f"{args.strategy}: {len(train_ds)} training windows, {data.meta.num_nodes} nodes, "
          f"{args.epochs} epochs")
    history = []
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)                                                               # <- pruning
        model.train()
        t0, total, seen, steps = time.perf_counter(), 0.0, 0, 0
        for idx, (x, y, m) in loader:
            pred = data.scaler.inverse(model(x))              # (B, Q, N) physical units
            per = per_sample_masked_mae(pred, y, m)           # (B,) l_i: each window's masked MAE
            loss = sampler.weighted_loss(per, idx)            # <- pruning: mean_i w_i l_i, recorded
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, seen, steps = total + float(per.detach().sum()), seen + len(idx), steps + 1
            if args.steps and steps >= args.steps:
                break
        info = sampler.info()
        sampler.end_epoch()          # optional: the next set_epoch would hand the losses over
        rec = {"epoch": epoch, "train_loss": total / max(seen, 1), "kept_fraction": info["kept_fraction"],
               "kept": info["kept"], "forwarded": seen, "weight_sum": info["weight_sum"],
               "val_mae": val_mae(model, data), "seconds": time.perf_counter() - t0}
        history.append(rec)
        print(f"epoch {epoch}: loss {rec['train_loss']:.3f}  val MAE {rec['val_mae']:.3f}  "
              f"kept {rec['kept']}/{len(train_ds)} ({rec['kept_fraction']:.2f})  "
              f"forwarded {seen}  {rec['seconds']:.1f}s")
    return history


if __name__ == "__main__":
    main()
