"""Masked forecasting metrics that accumulate sums and counts.

An entry counts when ``mask`` is True (a reading exists and the target is not the
null value). MAPE additionally ignores targets with |y| <= ``mape_min_target``
(default 0: only targets equal to 0), since entries with tiny targets dominate it;
WAPE = sum |p - y| / sum |y| over the valid entries has no such problem. MAPE means
nothing on an interval scale (temperatures in kelvin): the reports do not headline it
there. Sums are accumulated per
horizon step over a whole split, so results never depend on the batch size.

Averages over the horizon are *pooled*: sum over all steps / count over all steps
(the convention of DCRNN/GWNet/BasicTS masked metrics over a whole tensor).
"""
from __future__ import annotations

from typing import Dict, Iterable, Optional

import torch

HORIZONS = (3, 6, 12)


def per_sample_masked_mae(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, H, N) x3 -> (B,): each sample's MAE over its own valid entries.

    l_i = sum_{h,n} m_ihn |p_ihn - y_ihn| / max(1, sum_{h,n} m_ihn). A sample with no
    valid entry has loss 0.
    """
    m = mask.to(pred.dtype)
    err = torch.abs(pred - target) * m
    err = torch.where(mask, err, torch.zeros_like(err))  # guards NaN targets
    dims = tuple(range(1, pred.ndim))
    return err.sum(dims) / m.sum(dims).clamp_min(1.0)


def per_sample_sq_error(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,): the L2 norm of each sample's masked error vector (EL2N score)."""
    d = torch.where(mask, pred - target, torch.zeros_like(pred))
    return torch.sqrt((d * d).sum(tuple(range(1, pred.ndim))))


class MaskedMetrics:
    """Accumulates masked MAE/RMSE/MAPE per horizon step.

    ``update(pred, target, mask)`` takes (B, H, N) tensors in physical units.
    ``compute(horizons)`` returns {"mae", "rmse", "mape", "wape", "mae@3", ...}; MAPE
    and WAPE are fractions (multiply by 100 for percent).
    """

    def __init__(self, out_steps: int = 12, device: Optional[torch.device] = None,
                 mape_min_target: float = 0.0):
        if not mape_min_target >= 0:
            raise ValueError(f"mape_min_target must be >= 0, got {mape_min_target!r}")
        self.out_steps = out_steps
        self.mape_min_target = float(mape_min_target)
        z = lambda: torch.zeros(out_steps, dtype=torch.float64, device=device)  # noqa: E731
        self.abs_sum, self.sq_sum, self.ape_sum = z(), z(), z()
        self.count, self.ape_count, self.abs_target = z(), z(), z()

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> None:
        if pred.shape != target.shape or pred.shape != mask.shape:
            raise ValueError(f"pred {tuple(pred.shape)}, target {tuple(target.shape)} and mask "
                             f"{tuple(mask.shape)} must have the same (B, H, N) shape")
        p, y = pred.double(), target.double()
        d = torch.where(mask, p - y, torch.zeros_like(p))
        dims = (0,) + tuple(range(2, p.ndim))  # keep the horizon axis
        self.abs_sum += d.abs().sum(dims)
        self.sq_sum += (d * d).sum(dims)
        self.count += mask.double().sum(dims)
        self.abs_target += torch.where(mask, y.abs(), torch.zeros_like(y)).sum(dims)
        mape_mask = mask & (y.abs() > self.mape_min_target)
        ape = torch.where(mape_mask, d.abs() / torch.where(mape_mask, y.abs(), torch.ones_like(y)),
                          torch.zeros_like(y))
        self.ape_sum += ape.sum(dims)
        self.ape_count += mape_mask.double().sum(dims)

    def _values(self, sl: slice) -> Dict[str, float]:
        c = float(self.count[sl].sum())
        ac = float(self.ape_count[sl].sum())
        nan = float("nan")
        return {
            "mae": float(self.abs_sum[sl].sum()) / c if c else nan,
            "rmse": (float(self.sq_sum[sl].sum()) / c) ** 0.5 if c else nan,
            "mape": float(self.ape_sum[sl].sum()) / ac if ac else nan,
            "wape": float(self.abs_sum[sl].sum()) / t if (t := float(self.abs_target[sl].sum())) else nan,
        }

    def compute(self, horizons: Iterable[int] = HORIZONS) -> Dict[str, float]:
        out = self._values(slice(None))
        out["count"] = float(self.count.sum())
        for h in horizons:
            if 1 <= h <= self.out_steps:
                for k, v in self._values(slice(h - 1, h)).items():
                    out[f"{k}@{h}"] = v
        return out

    def step_means(self) -> Dict[str, float]:
        """The *unpooled* horizon average: ``{k}_stepmean = (1/H') sum_h k@h`` over the H' steps
        that have valid entries (k in mae, rmse, mape, wape; the RMSE is the mean of per-step
        RMSEs). It differs from the pooled value when steps have different counts (and always
        for RMSE)."""
        out = {}
        for k, vals in self.per_step().items():
            ok = [v for v in vals if v == v]  # drop NaN (a step without a valid entry)
            out[f"{k}_stepmean"] = sum(ok) / len(ok) if ok else float("nan")
        return out

    def per_step(self) -> Dict[str, list]:
        """Metrics at every horizon step 1..H (lists of length H)."""
        res = {"mae": [], "rmse": [], "mape": [], "wape": []}
        for h in range(self.out_steps):
            for k, v in self._values(slice(h, h + 1)).items():
                res[k].append(v)
        return res
