"""Scale: the node- and edge-blocked complexity / stationarity equal the whole-array ones,
and ``perf scale`` runs end to end on a tiny shape (the real run: results/perf/scale.json)."""
from __future__ import annotations

import numpy as np
import pytest

from stbench.pruning import complexity as C
from stbench.pruning import stationarity as S


def _data(T=400, N=37, seed=0):
    g = np.random.default_rng(seed)
    v = (np.sin(np.arange(T) / 7.0)[:, None] + g.standard_normal((T, N))).astype(np.float32)
    v[g.random(v.shape) < 0.05] = np.nan
    a = (g.random((N, N)) < 0.15) * g.random((N, N))
    return v, a.astype(np.float32)


@pytest.mark.parametrize("temporal", ["diff_energy", "spectral_entropy"])
def test_blocked_terms_equal_whole_array_terms(monkeypatch, temporal):
    v, a = _data()
    starts = np.arange(0, 400 - 24, 3)                      # not contiguous: the gather path
    whole = C.complexity_terms(v, starts, 12, 12, a, temporal=temporal)
    psi = S.stationarity_stat(v, starts, 12, 12)
    monkeypatch.setattr(C, "CHUNK_ENTRIES", 400 * 5)         # blocks of 5 nodes
    monkeypatch.setattr(C, "_BLOCK", 400 * 7)                # edge blocks of 7, sub-blocks of 2
    monkeypatch.setattr(C, "_SUB_BLOCK", 400 * 2)
    assert len(C.node_chunks(400, 37)) == 8
    blocked = C.complexity_terms(v, starts, 12, 12, a, temporal=temporal)
    np.testing.assert_allclose(blocked["temporal"], whole["temporal"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(blocked["spatial"], whole["spatial"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(S.stationarity_stat(v, starts, 12, 12), psi, rtol=1e-12, atol=1e-12)


def test_contiguous_windows_use_slices_with_the_same_sums():
    p = np.cumsum(np.random.default_rng(1).random((50, 3)), 0)
    s = np.arange(5, 30)
    assert C.contiguous(s) and not C.contiguous(s[::2])
    np.testing.assert_array_equal(C.window_sum(p, s, 2, 9), p[s + 9] - p[s + 2])
    np.testing.assert_array_equal(C.window_sum(p.T.copy(), s, 2, 9, axis=1), (p[s + 9] - p[s + 2]).T)


def test_graph_edges_by_row_blocks(monkeypatch):
    _, a = _data(N=23)
    a[3, 3] = 2.0
    sym = 0.5 * (a.astype(float) + a.T.astype(float))
    np.fill_diagonal(sym, 0.0)
    i0, j0 = np.nonzero(np.triu(sym, 1))
    monkeypatch.setattr(C, "_BLOCK", 23 * 4)                 # 4 rows per block
    i, j, w, deg = C.graph_edges(a, 23)
    np.testing.assert_array_equal(i, i0)
    np.testing.assert_array_equal(j, j0)
    np.testing.assert_array_equal(w, sym[i0, j0])
    np.testing.assert_array_equal(deg, sym.sum(1))


def test_perf_scale_runs_on_a_tiny_shape():
    from stbench.benchmarks import perf_scale as ps

    res = ps.measure_scale(shapes={"TINY": 30}, steps=600, models_step=False, gpu_table=False, say=lambda m: None)
    row = res["shapes"]["TINY"]
    assert row["windows"] == {"train": 346, "val": 115, "test": 116}
    b = row["data_bytes"]
    assert b["series"] == 600 * 30 * 3 * 4 and b["starts"] == 577 * 8
    assert b["materialised_bytes"] == 577 * 24 * 30 * 3 * 4 > b["total"]
    p = row["pruners"]
    assert {"full", "random", "rs2", "infobatch", "stprune", "infobatch-b", "stprune-b"} <= set(p)
    assert p["stprune-b"]["shared_with"] == "stprune" and p["stprune"]["setup_seconds"] > 0
    assert p["full"]["kept_fraction"] == [1.0] * 4 and p["random"]["kept_fraction"][1] == pytest.approx(0.5, abs=0.01)
    fit = {"fixed": (0.0, 10.0, 1.0), "per_sample": (5.0, 100.0, 0.0), "params": (1000.0, 2.0, 0.0)}
    pred = ps.predict_bytes(fit, 10, 4)
    assert pred["saved_bytes"] == 10 * 10 + 100 + 4 * (5 + 100 * 10) and pred["params"] == 1020
    assert pred["bytes"] == 16 * 1020 + pred["saved_bytes"]
    assert ps._solve({2: 8.0, 4: 24.0}, quadratic=True) == (0.0, 2.0, 1.0)
    assert ps._solve({2: 8.0, 4: 12.0}, quadratic=False) == (4.0, 2.0, 0.0)
