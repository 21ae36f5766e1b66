"""The forecasting protocol shared by every run.

Windows are start indices into one in-memory array (never materialised copies):
window s has inputs at steps [s, s + P) and targets at [s + P, s + P + Q), so a
series of T steps gives T - P - Q + 1 windows (T - 23 for 12 in / 12 out). Windows
are split chronologically: n_train = round(n * r_train), n_val = round(n * r_val),
the rest is test (the DCRNN / BasicTS convention: METR-LA gives 23,974 train windows).
A reader may instead give explicit windows in ``RawSeries.extra["split_anchors"]``
({split: anchors t}, t = the last input step, as LargeST's idx_*.npy): window t starts
at t - P + 1 (``starts_from_anchors``); the split ratios are then not used.

The z-score scaler is fitted on the steps covered by the training windows' inputs
only, [0, n_train - 1 + P), over finite entries (the published scalers include the
null value 0 of METR-LA; set ``scaler_ignore_null`` to exclude it).
Input channels: [z-scored value (missing -> 0, i.e. the training mean), time of day
in [0, 1), day of week in {0..6}].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Sequence

import numpy as np
import torch

from .base import DataError, DatasetMeta, RawSeries

SPLITS = ("train", "val", "test")


@dataclass
class Scaler:
    """z = (x - mean) / std with one mean and std for the whole target channel."""

    mean: float
    std: float

    def transform(self, x):
        return (x - self.mean) / self.std

    def inverse(self, z):
        return z * self.std + self.mean


def split_counts(num_windows: int, ratios: Sequence[float]) -> tuple[int, int, int]:
    if len(ratios) != 3 or abs(sum(ratios) - 1.0) > 1e-6 or min(ratios) < 0:
        raise DataError(f"split ratios must be three non-negative numbers summing to 1, got {list(ratios)}")
    n_train = int(round(num_windows * ratios[0]))
    n_val = int(round(num_windows * ratios[1]))
    n_test = num_windows - n_train - n_val
    return n_train, n_val, n_test


def keep_last_fraction(train_starts: np.ndarray, fraction: float, name: str = "data set") -> np.ndarray:
    """The last ``ceil(fraction n)`` of ``n`` training windows (``dataset.train_fraction``).

    Data-scale experiments train on the most recent part of the training span with the
    same validation and test windows, scaler and graph as the full run (both fitted on the
    whole training span), so runs of different sizes differ only in the windows trained on.
    """
    if not 0.0 < fraction <= 1.0:
        raise DataError(f"{name}: dataset.train_fraction must be in (0, 1], got {fraction!r}")
    n = len(train_starts)
    k = max(1, int(np.ceil(fraction * n - 1e-9)))
    return train_starts[n - k:]


def starts_from_anchors(anchors: Dict[str, np.ndarray], num_steps: int, in_steps: int, out_steps: int,
                        name: str) -> Dict[str, np.ndarray]:
    """Explicit windows: anchor t (the last input step, LargeST's idx_*.npy) -> start t - P + 1.

    Window t has inputs [t - P + 1, t] and targets [t + 1, t + Q], so every anchor must
    satisfy P - 1 <= t <= T - Q - 1; each split must be non-empty and sorted, and the
    splits chronological (train < val < test). Returns {split: (n_split,) int64 starts}.
    """
    out: Dict[str, np.ndarray] = {}
    lo, hi = in_steps - 1, num_steps - out_steps - 1
    prev = -1
    for split in SPLITS:
        t = np.asarray(anchors.get(split, ()), dtype=np.int64)
        if t.ndim != 1 or t.size == 0:
            raise DataError(f"{name}: explicit split {split!r} has no window")
        if (np.diff(t) <= 0).any() or t[0] <= prev:
            raise DataError(f"{name}: explicit {split} windows must be increasing and come after the "
                            f"previous split's")
        if t[0] < lo or t[-1] > hi:
            raise DataError(f"{name}: explicit {split} window anchors {int(t[0])}..{int(t[-1])} do not fit "
                            f"{in_steps} input and {out_steps} target steps in a series of {num_steps} "
                            f"steps (valid anchors {lo}..{hi})")
        prev = int(t[-1])
        out[split] = t - (in_steps - 1)
    return out


def time_features(timestamps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T,) datetime64 -> time of day in [0, 1) and day of week in {0..6} (Monday = 0)."""
    ts = timestamps.astype("datetime64[s]")
    days = ts.astype("datetime64[D]")
    tod = (ts - days).astype(np.int64) / 86400.0
    dow = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday (3)
    return tod.astype(np.float32), dow.astype(np.float32)


class WindowedData:
    """A data set under the protocol: one (T, N, C) tensor plus index arrays.

    Attributes:
        series:  (T, N, 3) float32 model inputs [z-value, tod, dow].
        target:  (T, N) float32 physical values, missing entries set to 0.
        mask:    (T, N) bool, True where a reading exists (finite, not null).
        starts:  {"train"|"val"|"test": (n_split,) int64 window start steps}.
        scaler:  the training-only Scaler.
        meta:    DatasetMeta for building models.
    Sample ``i`` of a split is the window starting at ``starts[split][i]``; pruners
    and the engine refer to training samples by ``i``.
    """

    def __init__(self, raw: RawSeries, in_steps: int = 12, out_steps: int = 12,
                 split: Sequence[float] = (0.7, 0.1, 0.2), scaler_ignore_null: bool = False,
                 train_fraction: float = 1.0):
        raw.validate()
        T, N = raw.values.shape
        self.raw = raw
        self.in_steps, self.out_steps = int(in_steps), int(out_steps)
        span = self.in_steps + self.out_steps
        n = T - span + 1
        if n < 1:
            raise DataError(f"{raw.name}: series has {T} steps, shorter than one window "
                            f"({self.in_steps} in + {self.out_steps} out)")
        anchors = raw.extra.get("split_anchors")
        if anchors is not None:  # explicit windows (e.g. LargeST's idx_*.npy), not a ratio
            self.starts = starts_from_anchors(anchors, T, self.in_steps, self.out_steps, raw.name)
        else:
            n_train, n_val, n_test = split_counts(n, split)
            if n_train < 1:
                raise DataError(f"{raw.name}: no training window ({n} windows, split {list(split)})")
            all_starts = np.arange(n, dtype=np.int64)
            self.starts: Dict[str, np.ndarray] = {
                "train": all_starts[:n_train],
                "val": all_starts[n_train:n_train + n_val],
                "test": all_starts[n_train + n_val:],
            }
        # steps the scaler may see: every training window's inputs (= n_train - 1 + P for the
        # ratio split, whose training windows start at 0, 1, ..)
        self.train_steps = int(self.starts["train"][-1]) + self.in_steps
        values = raw.values.astype(np.float32, copy=False)
        valid = raw.valid_mask()
        fit = values[: self.train_steps]
        fit_ok = np.isfinite(fit)
        if scaler_ignore_null:
            fit_ok &= valid[: self.train_steps]
        if not fit_ok.any():
            raise DataError(f"{raw.name}: the training part has no valid value to fit the scaler")
        mean = float(fit[fit_ok].mean(dtype=np.float64))
        std = float(fit[fit_ok].std(dtype=np.float64))
        self.scaler = Scaler(mean, std if std > 0 else 1.0)
        self.train_fraction = float(train_fraction)
        if self.train_fraction != 1.0:  # after the scaler: it and the graph keep the whole training span
            self.starts["train"] = keep_last_fraction(self.starts["train"], self.train_fraction, raw.name)
        z = np.where(np.isfinite(values), self.scaler.transform(values), 0.0).astype(np.float32)
        tod, dow = time_features(raw.timestamps)
        feats = np.empty((T, N, 3), dtype=np.float32)
        feats[..., 0] = z
        feats[..., 1] = tod[:, None]
        feats[..., 2] = dow[:, None]
        self.series = torch.from_numpy(feats)
        self.target = torch.from_numpy(np.where(np.isfinite(values), values, 0.0).astype(np.float32))
        self.mask = torch.from_numpy(valid)
        self.meta = DatasetMeta(name=raw.name, num_nodes=N, in_steps=self.in_steps,
                                out_steps=self.out_steps, in_channels=3,
                                steps_per_day=raw.steps_per_day,
                                # graph: {kind: none} -> None, so a model that needs a graph says so
                                adj=None if (raw.extra.get("graph") or {}).get("kind") == "none" else raw.adj)
        self._in_off = torch.arange(self.in_steps)
        self._out_off = torch.arange(self.in_steps, span)

    # ------------------------------------------------------------------ access
    def num_windows(self, split: str) -> int:
        return int(len(self.starts[split]))

    def to(self, device) -> "WindowedData":
        """Move the arrays (not copies per window) to ``device``."""
        self.series, self.target, self.mask = (t.to(device) for t in (self.series, self.target, self.mask))
        self._in_off, self._out_off = self._in_off.to(device), self._out_off.to(device)
        return self

    def gather(self, split: str, index) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Batch of samples ``index`` (B,) of ``split`` -> x (B, P, N, 3), y (B, Q, N), mask (B, Q, N)."""
        idx = torch.as_tensor(index, dtype=torch.long)
        starts = torch.as_tensor(self.starts[split], device=self.series.device)[idx.to(self.series.device)]
        tin = starts[:, None] + self._in_off
        tout = starts[:, None] + self._out_off
        return self.series[tin], self.target[tout], self.mask[tout]

    def dataset(self, split: str) -> "WindowDataset":
        return WindowDataset(self, split)

    def train_context(self) -> dict:
        """Arrays a pruner may use (no model): training part of the z-scored series.

        Returns {"values": (T_train, N) float32 z-scored with NaN where missing,
        "starts": (n_train,) int64, "in_steps", "out_steps", "adj": (N, N), None without a graph}.
        T_train covers the training windows' inputs and targets.
        """
        t_end = int(self.starts["train"][-1]) + self.in_steps + self.out_steps
        z = self.series[:t_end, :, 0].detach().cpu().numpy().copy()
        z[~self.mask[:t_end].cpu().numpy()] = np.nan
        return {"values": z, "starts": self.starts["train"].copy(), "in_steps": self.in_steps,
                "out_steps": self.out_steps, "adj": self.meta.adj}

    def info(self) -> dict:
        valid = self.mask.cpu().numpy()
        adj = self.meta.adj if self.meta.adj is not None else np.zeros((self.meta.num_nodes,) * 2)
        off = adj.copy()
        np.fill_diagonal(off, 0)
        return {
            "name": self.raw.name,
            "nodes": self.meta.num_nodes,
            "steps": int(self.raw.num_steps),
            "step_minutes": self.raw.step_minutes,
            "start": str(self.raw.timestamps[0]) if len(self.raw.timestamps) else None,
            "windows": {s: self.num_windows(s) for s in SPLITS},
            "missing_fraction": float(1.0 - valid.mean()),
            "graph_edges": int((off != 0).sum()),
            "scaler": {"mean": self.scaler.mean, "std": self.scaler.std},
        }


class WindowDataset(torch.utils.data.Dataset):
    """Map-style view of one split; items are dicts with x, y, mask and ``index``.

    ``__getitems__`` gathers a whole batch at once (used by DataLoader's batch fetch).
    """

    def __init__(self, data: WindowedData, split: str):
        if split not in SPLITS:
            raise KeyError(f"unknown split {split!r}; valid: {SPLITS}")
        self.data, self.split = data, split

    def __len__(self) -> int:
        return self.data.num_windows(self.split)

    def __getitem__(self, i: int) -> dict:
        x, y, m = self.data.gather(self.split, [i])
        return {"x": x[0], "y": y[0], "mask": m[0], "index": torch.tensor(i)}

    def __getitems__(self, idx: list) -> dict:
        x, y, m = self.data.gather(self.split, idx)
        return {"x": x, "y": y, "mask": m, "index": torch.as_tensor(idx, dtype=torch.long)}
