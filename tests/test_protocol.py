"""The forecasting protocol: windows, splits, training-only scaler, time channels."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from stbench.datasets.base import DataError, RawSeries
from stbench.datasets.protocol import WindowedData, split_counts, time_features


def make_raw(T=300, N=5, start="2012-03-01T00:00", step_min=5, seed=0, null_value=0.0, values=None):
    rng = np.random.default_rng(seed)
    if values is None:
        values = rng.uniform(20, 70, size=(T, N)).astype(np.float32)
    ts = np.datetime64(start, "ns") + np.timedelta64(step_min, "m") * np.arange(len(values))
    adj = np.eye(values.shape[1], dtype=np.float32)
    return RawSeries(name="TOY", values=values, adj=adj, timestamps=ts, null_value=null_value)


@pytest.mark.parametrize("T,expected", [
    (34272, (23974, 3425, 6850)),   # METR-LA: 23,974 train windows (DCRNN / BasicTS)
    (52116, (36465, 5209, 10419)),  # PEMS-BAY: 36,465 train windows
])
def test_split_counts_published(T, expected):
    n = T - 23
    assert split_counts(n, (0.7, 0.1, 0.2)) == expected
    assert sum(expected) == n


def test_split_counts_pems_622():
    n = 16992 - 23  # PEMS04
    tr, va, te = split_counts(n, (0.6, 0.2, 0.2))
    assert (tr, va, te) == (10181, 3394, 3394) and tr + va + te == n


def test_split_counts_rejects_bad_ratios():
    with pytest.raises(DataError):
        split_counts(100, (0.7, 0.2, 0.2))
    with pytest.raises(DataError):
        split_counts(100, (0.7, 0.3))


@pytest.mark.parametrize("P,Q", [(12, 12), (6, 3), (1, 1)])
def test_window_counts_and_boundaries(P, Q):
    T = 300
    w = WindowedData(make_raw(T), in_steps=P, out_steps=Q, split=(0.7, 0.1, 0.2))
    n = T - P - Q + 1
    if (P, Q) == (12, 12):
        assert n == T - 23
    counts = [w.num_windows(s) for s in ("train", "val", "test")]
    assert counts == list(split_counts(n, (0.7, 0.1, 0.2)))
    allstarts = np.concatenate([w.starts[s] for s in ("train", "val", "test")])
    np.testing.assert_array_equal(allstarts, np.arange(n))  # chronological, contiguous, no overlap of indices
    assert w.starts["test"][-1] + P + Q == T  # the last target is the last step
    assert w.starts["val"][0] == counts[0] and w.starts["test"][0] == counts[0] + counts[1]


def test_gather_reads_the_right_steps():
    raw = make_raw(120, 4)
    w = WindowedData(raw, 12, 12, (0.7, 0.1, 0.2))
    x, y, m = w.gather("val", [0, 3])
    assert x.shape == (2, 12, 4, 3) and y.shape == (2, 12, 4) and m.shape == (2, 12, 4)
    s = int(w.starts["val"][3])
    z = (raw.values - w.scaler.mean) / w.scaler.std
    np.testing.assert_allclose(x[1, :, :, 0].numpy(), z[s:s + 12], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y[1].numpy(), raw.values[s + 12:s + 24])
    assert m.all()


def test_scaler_sees_only_training_steps():
    T, P, Q = 400, 12, 12
    base = make_raw(T, 6).values.copy()
    w1 = WindowedData(make_raw(values=base.copy()), P, Q, (0.7, 0.1, 0.2))
    n_train = w1.num_windows("train")
    fit_end = n_train - 1 + P  # steps [0, fit_end) are the training windows' inputs
    changed = base.copy()
    changed[fit_end:] = 1e4  # everything after the training inputs
    w2 = WindowedData(make_raw(values=changed), P, Q, (0.7, 0.1, 0.2))
    assert w2.scaler.mean == w1.scaler.mean and w2.scaler.std == w1.scaler.std
    ref = base[:fit_end]
    assert w1.scaler.mean == pytest.approx(ref.mean(dtype=np.float64), rel=1e-6)
    assert w1.scaler.std == pytest.approx(ref.std(dtype=np.float64), rel=1e-6)
    inside = base.copy()
    inside[fit_end - 1] = 1e4  # the last step the scaler may see does move it
    w3 = WindowedData(make_raw(values=inside), P, Q, (0.7, 0.1, 0.2))
    assert w3.scaler.mean != w1.scaler.mean


def test_scaler_ignore_null_and_missing_values():
    v = make_raw(200, 3).values.copy()
    v[::5, 0] = 0.0   # null readings
    v[1::7, 1] = np.nan  # missing
    w_incl = WindowedData(make_raw(values=v.copy()), 12, 12, (0.7, 0.1, 0.2))
    w_excl = WindowedData(make_raw(values=v.copy()), 12, 12, (0.7, 0.1, 0.2), scaler_ignore_null=True)
    fit = v[: w_incl.train_steps]
    assert w_incl.scaler.mean == pytest.approx(np.nanmean(fit), rel=1e-6)
    assert w_excl.scaler.mean == pytest.approx(np.nanmean(np.where(fit == 0, np.nan, fit)), rel=1e-6)
    mask = w_incl.mask.numpy()
    assert not mask[::5, 0].any() and not mask[1::7, 1].any()
    assert w_incl.target[1::7, 1].eq(0).all()
    assert torch.isfinite(w_incl.series).all()
    assert w_incl.series[1::7, 1, 0].eq(0).all()  # missing -> z = 0 (the training mean)


def test_time_of_day_and_day_of_week_channels():
    raw = make_raw(2 * 288 + 24, 2, start="2012-03-01T00:00")  # 2012-03-01 was a Thursday
    w = WindowedData(raw, 12, 12, (0.7, 0.1, 0.2))
    tod = w.series[:, 0, 1].numpy()
    dow = w.series[:, 0, 2].numpy()
    k = np.arange(raw.num_steps)
    np.testing.assert_allclose(tod, (k % 288) / 288.0, atol=1e-6)
    np.testing.assert_array_equal(dow, (3 + k // 288) % 7)
    assert tod.min() >= 0 and tod.max() < 1
    h_tod, h_dow = time_features(np.array(["2024-01-07T18:00"], dtype="datetime64[ns]"))  # a Sunday
    assert h_tod[0] == pytest.approx(0.75) and h_dow[0] == 6


def test_series_shorter_than_one_window():
    with pytest.raises(DataError, match="shorter than one window"):
        WindowedData(make_raw(23, 3), 12, 12, (0.7, 0.1, 0.2))


def test_train_context_and_dataset_batches():
    w = WindowedData(make_raw(150, 3), 12, 12, (0.7, 0.1, 0.2))
    ctx = w.train_context()
    n = w.num_windows("train")
    assert ctx["values"].shape == (n - 1 + 24, 3)
    np.testing.assert_array_equal(ctx["starts"], np.arange(n))
    ds = w.dataset("test")
    assert len(ds) == w.num_windows("test")
    batch = ds.__getitems__([0, 1, 2])
    assert batch["x"].shape == (3, 12, 3, 3) and batch["index"].tolist() == [0, 1, 2]
    one = ds[1]
    torch.testing.assert_close(one["x"], batch["x"][1])


@pytest.mark.parametrize("fraction", [0.125, 0.25, 0.5, 1.0])
def test_train_fraction_keeps_the_last_windows_and_nothing_else(fraction):
    """Data-scale runs train on the last ceil(f n) training windows; validation, test,
    scaler and graph are those of the whole training span."""
    full = WindowedData(make_raw(T=400))
    part = WindowedData(make_raw(T=400), train_fraction=fraction)
    n = full.num_windows("train")
    k = int(np.ceil(fraction * n))
    assert part.num_windows("train") == k
    np.testing.assert_array_equal(part.starts["train"], full.starts["train"][n - k:])
    for split in ("val", "test"):
        np.testing.assert_array_equal(part.starts[split], full.starts[split])
    assert (part.scaler.mean, part.scaler.std) == (full.scaler.mean, full.scaler.std)
    torch.testing.assert_close(part.series, full.series)
    ctx = part.train_context()
    np.testing.assert_array_equal(ctx["starts"], part.starts["train"])
    x, y, _ = part.gather("train", [0])
    torch.testing.assert_close(x, full.gather("train", [n - k])[0])


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5])
def test_train_fraction_out_of_range_is_an_error(fraction):
    with pytest.raises(DataError, match="train_fraction"):
        WindowedData(make_raw(T=400), train_fraction=fraction)
