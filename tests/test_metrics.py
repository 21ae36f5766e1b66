"""Masked metrics against a plain NumPy reference; batch-size independence."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from stbench.datasets.metrics import MaskedMetrics, per_sample_masked_mae, per_sample_sq_error


def random_batch(B=53, H=12, N=7, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.uniform(0, 80, size=(B, H, N))
    y[rng.random(y.shape) < 0.15] = 0.0       # null readings (value 0)
    y[rng.random(y.shape) < 0.05] = np.nan    # missing (NaN)
    pred = y + rng.normal(0, 5, size=y.shape)
    pred[np.isnan(pred)] = rng.uniform(0, 80, size=int(np.isnan(pred).sum()))
    mask = np.isfinite(y) & (y != 0)
    return pred, y, mask


def numpy_reference(pred, y, mask, horizons=(3, 6, 12)):
    def block(p, t, m):
        d = np.where(m, p - np.nan_to_num(t), 0.0)
        c = m.sum()
        mm = m & (np.nan_to_num(t) != 0)
        ape = np.where(mm, np.abs(d) / np.where(mm, np.abs(np.nan_to_num(t)), 1.0), 0.0)
        return {"mae": np.abs(d).sum() / c, "rmse": np.sqrt((d ** 2).sum() / c), "mape": ape.sum() / mm.sum()}

    out = block(pred, y, mask)
    out["count"] = float(mask.sum())
    for h in horizons:
        for k, v in block(pred[:, h - 1], y[:, h - 1], mask[:, h - 1]).items():
            out[f"{k}@{h}"] = v
    return out


def run_metrics(pred, y, mask, batch):
    m = MaskedMetrics(out_steps=y.shape[1])
    for i in range(0, len(y), batch):  # the last partial batch is included
        m.update(torch.tensor(pred[i:i + batch], dtype=torch.float32),
                 torch.tensor(np.nan_to_num(y[i:i + batch]), dtype=torch.float32),
                 torch.tensor(mask[i:i + batch]))
    return m.compute()


def test_masked_metrics_match_numpy():
    pred, y, mask = random_batch()
    pred32 = pred.astype(np.float32).astype(np.float64)
    y32 = np.nan_to_num(y).astype(np.float32).astype(np.float64)
    ref = numpy_reference(pred32, y32, mask)
    got = run_metrics(pred, y, mask, batch=16)
    for k, v in ref.items():
        assert got[k] == pytest.approx(v, rel=1e-9), k
    assert 0 < got["mape"] < 10 and got["rmse"] >= got["mae"]


@pytest.mark.parametrize("batch", [1, 7, 16, 50, 53, 1000])
def test_results_do_not_depend_on_batch_size(batch):
    pred, y, mask = random_batch()
    full = run_metrics(pred, y, mask, batch=len(y))
    got = run_metrics(pred, y, mask, batch=batch)  # 53 samples: most sizes leave a partial last batch
    for k in full:
        assert got[k] == pytest.approx(full[k], rel=1e-12, abs=1e-12), k


def test_dropping_last_partial_batch_would_change_the_result():
    pred, y, mask = random_batch()
    full = run_metrics(pred, y, mask, batch=len(y))
    dropped = run_metrics(pred[:48], y[:48], mask[:48], batch=16)
    assert dropped["count"] < full["count"] and dropped["mae"] != full["mae"]


def test_per_step_lists_and_empty_metrics():
    pred, y, mask = random_batch(B=10, H=4)
    m = MaskedMetrics(out_steps=4)
    m.update(torch.tensor(pred), torch.tensor(np.nan_to_num(y)), torch.tensor(mask))
    steps = m.per_step()
    assert len(steps["mae"]) == 4
    ref = numpy_reference(pred, np.nan_to_num(y), mask, horizons=(1, 2, 3, 4))
    assert steps["mae"][1] == pytest.approx(ref["mae@2"], rel=1e-9)
    empty = MaskedMetrics(out_steps=3).compute()
    assert np.isnan(empty["mae"]) and empty["count"] == 0


def test_metrics_shape_mismatch_raises():
    m = MaskedMetrics(out_steps=3)
    with pytest.raises(ValueError, match="same"):
        m.update(torch.zeros(2, 3, 4), torch.zeros(2, 3, 5), torch.ones(2, 3, 4, dtype=torch.bool))


def test_per_sample_loss_is_normalised_by_own_valid_count():
    pred, y, mask = random_batch(B=9, H=12, N=5, seed=3)
    mask[0] = False            # a sample with no valid entry -> loss 0
    mask[1] = False
    mask[1, 0, 0] = True       # one valid entry -> its own absolute error
    yt = torch.tensor(np.nan_to_num(y))
    got = per_sample_masked_mae(torch.tensor(pred), torch.tensor(y), torch.tensor(mask))  # NaN targets masked
    assert torch.isfinite(got).all()
    ref = np.array([np.abs(pred[i] - np.nan_to_num(y[i]))[mask[i]].mean() if mask[i].any() else 0.0
                    for i in range(len(y))])
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12)
    assert got[0] == 0 and got[1] == pytest.approx(abs(pred[1, 0, 0] - y[1, 0, 0]))
    # normalisation: halving a sample's valid entries keeps a constant error at the same loss
    const = torch.full((2, 4, 3), 2.0)
    m = torch.ones(2, 4, 3, dtype=torch.bool)
    m[1, :2] = False
    np.testing.assert_allclose(per_sample_masked_mae(const, torch.zeros_like(const), m).numpy(), [2.0, 2.0])
    el2n = per_sample_sq_error(torch.tensor(pred), yt, torch.tensor(mask))
    ref2 = np.array([np.sqrt((np.where(mask[i], pred[i] - np.nan_to_num(y[i]), 0) ** 2).sum()) for i in range(len(y))])
    np.testing.assert_allclose(el2n.numpy(), ref2, rtol=1e-12)
