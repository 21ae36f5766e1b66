"""Strategies at a compute budget b (docs/pruning.md "Budgets"): the planner, rs2, the
fixed-count strategies, budgeted InfoBatch and ST-Prune (synthetic and real AQI36 data),
and the published InfoBatch / ST-Prune left exactly as they were."""
from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from stbench.pruning import PRUNERS, PruneContext, build_pruner
from stbench.pruning.infobatch import below_mean
from stbench.pruning.schedule import ANNEAL_BOOST, anneal_shape, budget_counts

BUDGETS = (0.67, 0.5, 0.25, 0.167)


def ring(nodes: int) -> np.ndarray:
    adj = np.zeros((nodes, nodes), dtype=np.float32)
    i = np.arange(nodes)
    adj[i, (i + 1) % nodes] = 1.0
    adj[(i + 1) % nodes, i] = 1.0
    return adj


def synth_ctx(n=300, nodes=6, epochs=10, seed=0, steps=4) -> PruneContext:
    """A random-walk-plus-noise series with 2 % NaN on a ring graph (fixed generator)."""
    g = np.random.default_rng(2024)
    t = n - 1 + 2 * steps
    v = (np.cumsum(g.standard_normal((t, nodes)), 0) * 0.1 + g.standard_normal((t, nodes))).astype(np.float32)
    v[g.random(v.shape) < 0.02] = np.nan
    return PruneContext(n=n, epochs=epochs, seed=seed, values=v, starts=np.arange(n), in_steps=steps,
                        out_steps=steps, adj=ring(nodes))


def synth_losses(n: int, epoch: int) -> np.ndarray:
    """Gamma-distributed per-window losses with 10 % multiplicative noise per epoch."""
    base = np.random.default_rng(11).gamma(2.0, 1.0, n)
    return base * (1 + 0.1 * np.random.default_rng([11, epoch]).standard_normal(n))


def drive(pruner, losses=synth_losses, epochs=None):
    """Engine-like loop (select, then update the forwarded windows); returns the Selections."""
    sels = []
    for e in range(pruner.epochs if epochs is None else epochs):
        sel = pruner.select(e)
        assert sel.indices.size == np.unique(sel.indices).size >= 1
        l = losses(pruner.n, e)[sel.indices]
        pruner.update(sel.indices, l, el2n=l**2)
        sels.append(sel)
    return sels


def passes(sels) -> int:
    return int(sum(s.indices.size for s in sels))


# ----------------------------------------------------------------------------- the planner

@pytest.mark.parametrize("n,epochs", [(1000, 12), (37, 7), (5, 30)])
@pytest.mark.parametrize("b", [1.0, 0.67, 0.5, 0.33, 0.25, 0.167, 0.05])
def test_budget_counts_sum_exactly_with_full_epochs_and_cap(n, epochs, b):
    for full, shape in (((), None), ((0,), anneal_shape(epochs, 0.875)), ((0, 1, epochs - 1), None)):
        k = budget_counts(n, epochs, b, full, shape)
        assert k.dtype == np.int64 and k.shape == (epochs,)
        assert (k >= 1).all() and (k <= n).all()
        assert all(k[e] == n for e in full)
        pruned = [e for e in range(epochs) if e not in full]
        feasible = round(b * epochs * n) - n * len(full) >= len(pruned)
        if feasible:
            assert k.sum() == round(b * epochs * n), (n, epochs, b, full)
        else:                                   # the smallest feasible counts, reached budget above b
            assert all(k[e] == 1 for e in pruned) and k.sum() > round(b * epochs * n)


def test_budget_counts_follow_the_shape_water_filled_under_the_cap():
    assert budget_counts(10, 4, 1.0).tolist() == [10] * 4
    assert budget_counts(10, 5, 0.5, shape=np.array([1, 1, 1, 1, 100.0])).tolist() == [4, 4, 4, 3, 10]
    k = budget_counts(1000, 12, 0.5, (0,), anneal_shape(12, 0.875))
    assert anneal_shape(12, 0.875).tolist() == [1.0] * 11 + [ANNEAL_BOOST]
    assert k[0] == 1000 and abs(k[11] - 2 * k[1]) <= 1 and k.sum() == 6000
    # the boost is capped at n: the annealed epochs get the full data when the budget affords it
    k = budget_counts(100, 10, 0.85, (0,), anneal_shape(10, 0.5))
    assert k[5:].tolist() == [100] * 5 and k[1:5].tolist() == [63, 63, 62, 62] and k.sum() == 850
    assert anneal_shape(6, None).tolist() == [1.0] * 6
    assert budget_counts(7, 3, 0.5, (0,)).tolist() == [7, 2, 1]          # largest remainder, earlier first
    assert budget_counts(10, 4, 0.1, (0, 1)).tolist() == [10, 10, 1, 1]  # infeasible: minimal counts


def test_budget_counts_reject_bad_arguments():
    with pytest.raises(ValueError, match=r"budget must be a number in \(0, 1\]"):
        budget_counts(10, 4, 0.0)
    with pytest.raises(ValueError, match="full epoch 4 outside"):
        budget_counts(10, 4, 0.5, (4,))
    with pytest.raises(ValueError, match="shape"):
        budget_counts(10, 4, 0.5, shape=np.array([1.0, 0.0, 1.0, 1.0]))


# ----------------------------------------------------------------------------- rs2

def check_once_before_twice(sels, n):
    seen = np.zeros(n, dtype=np.int64)
    for sel in sels:
        assert sel.indices.size == np.unique(sel.indices).size
        # no window is forwarded a (c + 2)-th time while another has been forwarded only c times
        seen[sel.indices] += 1
        assert seen.max() - seen.min() <= 1, seen
    return seen


@pytest.mark.parametrize("kw", [{"ratio": 0.3}, {"ratio": 0.6}, {"ratio": 0.0}, {"budget": 0.37},
                                {"budget": 0.167}, {"budget": 1.0}])
def test_rs2_sees_every_window_once_before_any_twice(kw):
    n, epochs = 103, 15                                    # 103 is not a multiple of any k here
    p = build_pruner("rs2", synth_ctx(n=n, epochs=epochs), **kw)
    sels = drive(p)
    seen = check_once_before_twice(sels, n)
    assert all(np.all(s.weights == 1.0) for s in sels)
    k = [s.indices.size for s in sels]
    if "ratio" in kw:
        assert k == [round((1 - kw["ratio"]) * n)] * epochs
    else:
        assert k == p.planned_counts.tolist() and sum(k) == round(kw["budget"] * epochs * n)
        assert p.extra_info()["target_count"] == k[-1]
    assert seen.sum() == sum(k)


def test_rs2_is_reproducible_and_independent_of_the_call_order():
    def trace(seed, order):
        p = build_pruner("rs2", PruneContext(n=50, epochs=10, seed=seed), budget=0.41)
        return {e: p.select(e).indices.tolist() for e in order}

    a = trace(0, range(10))
    assert a == trace(0, range(10)) == trace(0, [9, 3, 0, 5, 1, 2, 8, 4, 6, 7])
    assert trace(1, range(10)) != a


# ----------------------------------------------------------------------------- fixed-count strategies

# at most one full-data epoch (the default warm-up), so that even b = 1/6 of 12 epochs is feasible
FIXED = [("random", {}), ("random", {"mode": "static"}), ("random", {"rescale": True}),
         ("static", {}), ("static", {"score": "complexity"}), ("static", {"keep": "stratified"}),
         ("epsilon_greedy", {}), ("epsilon_greedy", {"epsilon": 0.3}),
         ("ucb", {}), ("ucb", {"bonus": "count"}), ("rs2", {})]
# more full-data epochs (warm-up + annealed) count against the budget too
FIXED_ANNEALED = [("random", {"rescale": True, "anneal": 0.875}),
                  ("epsilon_greedy", {"anneal": 0.875, "warmup_epochs": 2}),
                  ("ucb", {"bonus": "count", "anneal": 0.75})]


@pytest.mark.parametrize("name,params,b", [(n, p, b) for n, p in FIXED for b in BUDGETS] +
                         [(n, p, b) for n, p in FIXED_ANNEALED for b in BUDGETS[:2]])
def test_fixed_count_strategies_spend_the_budget(name, params, b):
    n, epochs = 240, 12
    p = build_pruner(name, synth_ctx(n=n, epochs=epochs), budget=b, **params)
    assert type(p).budget_mode(params) == "exact" and p.ratio == 0.0
    sels = drive(p)
    total = passes(sels)
    assert abs(total - b * epochs * n) <= epochs, (name, params, b, total)
    assert [s.indices.size for s in sels] == p.planned_counts.tolist()
    for e, sel in enumerate(sels):
        if name == "random" and params.get("rescale") and sel.indices.size < n:
            assert np.allclose(sel.weights, n / sel.indices.size)
        elif name != "random" or not params.get("rescale"):
            assert np.all(sel.weights == 1.0)
    if name in ("static",) or params.get("mode") == "static":
        warm = 0 if params.get("score") == "complexity" or name == "random" else 1
        assert len({tuple(np.sort(s.indices)) for s in sels[warm:]}) == 1


def test_warmup_and_annealed_epochs_count_against_the_budget():
    n, epochs = 200, 12
    p = build_pruner("epsilon_greedy", synth_ctx(n=n, epochs=epochs), budget=0.5, warmup_epochs=2,
                     anneal=0.75)
    k = p.planned_counts
    assert k[:2].tolist() == [n, n] and k[9:].tolist() == [n] * 3
    assert k.sum() == 1200 and max(k[2:9]) - min(k[2:9]) <= 1
    # a budget the full epochs alone exceed: the smallest counts, the reached budget recorded
    p = build_pruner("ucb", synth_ctx(n=n, epochs=epochs), budget=0.167, warmup_epochs=2, anneal=0.75)
    assert p.planned_counts.sum() == 5 * n + 7 and p.planned_budget > 0.167
    assert passes(drive(p)) == p.planned_counts.sum()


# ----------------------------------------------------------------------------- budgeted soft selectors

def test_budgeted_stprune_is_exact_for_every_ablation():
    n, epochs = 300, 12
    ctx = synth_ctx(n=n, epochs=epochs)
    for params in ({}, {"use_complexity": False}, {"use_loss": False}, {"rescale": "global"},
                   {"rescale": "none"}, {"anneal": None}, {"candidates": "all"}):
        for b in (1.0, 0.67, 0.33, 0.167):
            p = build_pruner("stprune", ctx, budget=b, budgeted=True, **params)
            sels = drive(p)
            assert [s.indices.size for s in sels] == p.planned_counts.tolist(), (params, b)
            assert passes(sels) == round(b * epochs * n)
            assert sels[0].indices.size == n and np.all(sels[0].weights == 1.0)
            if params.get("rescale") == "none":
                assert all(np.all(s.weights == 1.0) for s in sels)


def test_budgeted_stprune_pools_keep_their_weight_exactly():
    n, epochs = 600, 12
    p = build_pruner("stprune", synth_ctx(n=n, epochs=epochs), budget=0.33, budgeted=True, strata=5,
                     budget_rule="pool", weights="unbiased")       # the first study's rule
    strata = p.strata
    assert np.bincount(strata).tolist() == [120] * 5
    for e in range(epochs):
        sel = p.select(e)
        if e >= 1 and sel.indices.size < n:
            drop = n - sel.indices.size
            quota = p.stratum_quotas(drop)
            assert quota.sum() == drop and np.abs(quota - drop / 5).max() < 1
            in_pool, pool = p.pools(quota)
            assert pool.tolist() == [min(120, max(2 * d, 60)) for d in quota]
            # the pool is the lowest-scored members of each stratum
            s, _ = p.score()
            for k in range(5):
                members = np.flatnonzero(strata == k)
                lowest = members[np.argsort(s[members], kind="stable")[:pool[k]]]
                assert set(lowest.tolist()) == set(np.flatnonzero(in_pool & (strata == k)).tolist())
            w = np.zeros(n)
            w[sel.indices] = sel.weights
            kept = np.zeros(n, dtype=bool)
            kept[sel.indices] = True
            assert kept[~in_pool].all() and np.all(w[~in_pool & kept] == 1.0)
            for k in range(5):
                in_k = in_pool & (strata == k)
                assert (in_k & ~kept).sum() == quota[k]
                assert w[in_k].sum() == pytest.approx(pool[k], rel=1e-6), (e, k)
        p.update(sel.indices, synth_losses(n, e)[sel.indices])


def test_budgeted_infobatch_drops_exact_quotas_and_carries_the_deficit():
    n, epochs = 400, 12
    p = build_pruner("infobatch", synth_ctx(n=n, epochs=epochs), budget=0.25, budgeted=True,
                     weights="unbiased")
    carry = 0
    for e in range(epochs):
        p_loss = p.memory.loss.copy()
        seen = p.memory.seen.copy()
        sel = p.select(e)
        info = p.extra_info()
        k = int(p.planned_counts[e])
        assert info["target_count"] == k
        if e >= 1:
            cand = below_mean(p_loss, seen)
            quota = n - k + carry
            d = min(quota, int(cand.sum()))
            assert sel.indices.size == n - d and info["candidates"] == cand.sum()
            assert info["deficit"] == quota - d
            kept = np.zeros(n, dtype=bool)
            kept[sel.indices] = True
            assert kept[~cand].all()
            w = dict(zip(sel.indices.tolist(), sel.weights.tolist()))
            if d < cand.sum():
                want = cand.sum() / (cand.sum() - d)
                assert all(w[i] == pytest.approx(want if cand[i] else 1.0) for i in sel.indices)
            carry = quota - d
        p.update(sel.indices, synth_losses(n, e)[sel.indices])
    assert carry > 0  # at b = 0.25 the below-mean candidates cannot pay every quota: a shortfall


def test_budgeted_infobatch_is_unbiased():
    n = 400
    losses = np.random.default_rng(3).gamma(2.0, 1.0, n)
    sums = []
    for seed in range(40):
        p = build_pruner("infobatch", synth_ctx(n=n, epochs=12, seed=seed), budget=0.67, budgeted=True,
                         weights="unbiased")
        p.select(0)
        p.update(np.arange(n), losses)                       # a fixed learning state: only the draws vary
        for e in range(1, 11):
            sel = p.select(e)
            assert p.extra_info()["deficit"] == 0 and sel.indices.size == p.planned_counts[e]
            sums.append(float((sel.weights.astype(np.float64) * losses[sel.indices]).sum()))
    assert abs(np.mean(sums) / losses.sum() - 1) < 0.01


def test_the_unbiasedness_check_has_power():
    n = 400
    losses = np.random.default_rng(3).gamma(2.0, 1.0, n)
    p = build_pruner("infobatch", synth_ctx(n=n, epochs=12), budget=0.67, budgeted=True, weights="unbiased")
    p.select(0)
    p.update(np.arange(n), losses)
    sel = p.select(1)
    weighted = (sel.weights * losses[sel.indices]).sum()
    assert losses[sel.indices].sum() / losses.sum() < 0.9 < weighted / losses.sum()


# ----------------------------------------------------------------------------- real data (AQI36)

@pytest.fixture(scope="module")
def aqi36(real_data_root):
    from stbench import datasets

    if not datasets.dataset_present("AQI36", real_data_root):
        pytest.skip(f"AQI36 not under {real_data_root}")
    data = datasets.load_windowed("AQI36", data_root=real_data_root)
    tc = data.train_context()
    n = data.num_windows("train")
    length = tc["in_steps"] + tc["out_steps"]
    windows = np.stack([tc["values"][s:s + length] for s in tc["starts"]])
    level = np.nanmean(np.abs(windows), axis=(1, 2))          # mean |z| of each window's valid values

    def make_ctx(epochs, seed=0):
        return PruneContext(n=n, epochs=epochs, seed=seed, values=tc["values"], starts=tc["starts"],
                            in_steps=tc["in_steps"], out_steps=tc["out_steps"], adj=tc["adj"])

    def losses(count, epoch):
        noise = np.random.default_rng([5, epoch]).standard_normal(count)
        return level * (1.0 + 0.2 * noise)

    return make_ctx, losses, n


@pytest.mark.realdata
def test_budgeted_stprune_is_exact_on_real_aqi36(aqi36):
    make_ctx, losses, n = aqi36
    epochs = 12
    ctx = make_ctx(epochs)
    for b in (1.0, 0.67, 0.5, 0.33, 0.25, 0.167):
        p = build_pruner("stprune", ctx, budget=b, budgeted=True)
        sels = drive(p, losses)
        assert passes(sels) == round(b * epochs * n), b
        assert [s.indices.size for s in sels] == p.planned_counts.tolist()


@pytest.mark.realdata
def test_budgeted_infobatch_on_real_aqi36_hits_or_reports_its_budget(aqi36):
    make_ctx, losses, n = aqi36
    epochs = 12
    ctx = make_ctx(epochs)
    for b in (0.67, 0.5):
        p = build_pruner("infobatch", ctx, budget=b, budgeted=True)
        assert abs(passes(drive(p, losses)) - b * epochs * n) <= epochs, b
        assert p.extra_info()["deficit"] == 0
    p = build_pruner("infobatch", ctx, budget=0.167, budgeted=True)
    reached = passes(drive(p, losses)) / (epochs * n)
    assert reached > 0.167 + 0.05 and p.extra_info()["deficit"] > 0   # the shortfall is recorded
    assert reached == pytest.approx(0.167 + p.extra_info()["deficit"] / (epochs * n), abs=1.5 / n)


# ----------------------------------------------------------------------------- modes and errors

def test_budget_modes():
    want = {"full": "schedule", "random": "exact", "static": "exact", "epsilon_greedy": "exact",
            "ucb": "exact", "rs2": "exact", "infobatch": "native", "stprune": "native"}
    assert {name: PRUNERS.get(name).budget_mode({}) for name in PRUNERS.names()} == want
    for name in ("infobatch", "stprune"):
        assert PRUNERS.get(name).budget_mode({"budgeted": True}) == "exact"
        assert PRUNERS.get(name).budget_mode({"budgeted": False}) == "native"


@pytest.mark.parametrize("name", ["infobatch", "stprune"])
def test_native_form_with_a_budget_raises_clearly(name):
    ctx = synth_ctx(n=50)
    msg = rf"pruner '{name}'.*cannot target.*set params.budgeted: true, or run it with prune ratios"
    with pytest.raises(ValueError, match=msg):
        build_pruner(name, ctx, budget=0.5)
    with pytest.raises(ValueError, match="set params.budgeted: true"):
        PRUNERS.get(name)(ctx, 0.0, 0.5)                     # direct construction too
    with pytest.raises(ValueError, match=rf"{name}.yaml\): params.budgeted must be false in ratio mode"):
        build_pruner(name, ctx, 0.5, budgeted=True)


@pytest.mark.parametrize("bad", [0.0, 1.5, -0.2, "0.5", True, float("nan")])
def test_bad_budgets_raise_clearly(bad):
    with pytest.raises(ValueError, match=r"pruner 'random': compute budget must be a number in \(0, 1\]"):
        build_pruner("random", synth_ctx(n=50), budget=bad)


def test_full_at_a_budget_plans_the_shortened_schedule():
    p = build_pruner("full", synth_ctx(n=40, epochs=12), budget=0.25)
    assert p.planned_counts.tolist() == [40] * 3 + [0] * 9
    assert np.array_equal(np.sort(p.select(5).indices), np.arange(40))
    with pytest.raises(ValueError, match="ratio must be 0"):
        build_pruner("full", synth_ctx(n=40), 0.5, budget=0.5)


def test_budgeted_stprune_rejects_ratio_decay():
    with pytest.raises(ValueError, match="params.ratio_decay must be none when budgeted is true"):
        build_pruner("stprune", synth_ctx(n=50), budget=0.5, budgeted=True, ratio_decay="linear")


# ----------------------------------------------------------------------------- published forms unchanged

def digest(name, ratio, params, n=300, epochs=10) -> str:
    p = build_pruner(name, synth_ctx(n=n, epochs=epochs), ratio, **params)
    h = hashlib.sha256()
    for e in range(epochs):
        sel = p.select(e)
        h.update(sel.indices.astype(np.int64).tobytes())
        h.update(sel.weights.astype(np.float32).tobytes())
        p.update(sel.indices, synth_losses(n, e)[sel.indices])
    return h.hexdigest()[:16]


# Computed with the modules before budgets were added (git f86d681: pruning/infobatch.py,
# pruning/stprune.py), on this file's synth_ctx / synth_losses.
PUBLISHED = [
    ("infobatch", 0.5, {}, "552678ef80e7a2f6"),
    ("infobatch", 0.7, {"anneal": None}, "4c6872d688dfcf88"),
    ("stprune", 0.5, {}, "959828402903dd25"),
    ("stprune", 0.7, {"candidates": "all", "strata": 3}, "3a33e25f3a088467"),
    ("stprune", 0.5, {"use_complexity": False, "loss_transform": "value", "rescale": "global"},
     "a2ef871b28a33e40"),
    ("stprune", 0.6, {"ratio_decay": "cosine", "rescale": "none", "anneal": None}, "2be59c0a50210186"),
    ("stprune", 0.5, {"use_loss": False, "temporal": "spectral_entropy"}, "9fe84d8271604ed5"),
]


@pytest.mark.parametrize("name,ratio,params,want", PUBLISHED)
def test_published_infobatch_and_stprune_are_unchanged_bit_for_bit(name, ratio, params, want):
    assert digest(name, ratio, params) == want
    assert digest(name, ratio, {**params, "budgeted": False}) == want
