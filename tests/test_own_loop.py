"""Pruners from a user's own loop (pruning/loop.py, docs/own_loop.md).

- the example (examples/own_loop.py) runs, as a script and through its main();
- equal to the engine: the same pruner, seed and fed-back losses give, every epoch, the
  engine's selected set and per-sample weights (the order is the sampler's own stream);
- DataLoader(num_workers=2) serves the same batches as num_workers=0;
- no global RNG (random, NumPy's, torch's) is read or advanced;
- the sampler's contract (epochs, errors, repeated records, order stream).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from stbench.benchmarks import engine as engine
from stbench.benchmarks.config import StrategySpec, pruner_defaults, resolve_run
from stbench.pruning import IndexedDataset, PrunedSampler, indexed_collate, make_pruner

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "own_loop.py"


# ----------------------------------------------------------------------------- helpers
class Numbers(Dataset):
    """Item i is the float tensor i (so a batch shows which indices it holds)."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        return torch.tensor(float(i))


def fake_losses(idx: torch.Tensor, epoch: int) -> torch.Tensor:
    """Deterministic per-sample losses that change with the epoch."""
    i = idx.to(torch.float64)
    return (torch.sin(i * 0.7 + epoch) + 1.5).to(torch.float32)


def rng_state() -> tuple:
    return random.getstate(), np.random.get_state(), torch.get_rng_state().clone()


def same_rng_state(a: tuple, b: tuple) -> bool:
    (pa, na, ta), (pb, nb, tb) = a, b
    return (pa == pb and na[0] == nb[0] and np.array_equal(na[1], nb[1]) and na[2:] == nb[2:]
            and torch.equal(ta, tb))


def series_context(max_steps: int = 300) -> tuple:
    from stbench import datasets
    data = datasets.load_windowed("SYNTHETIC", max_steps=max_steps)
    return data.num_windows("train"), data.train_context()


# ----------------------------------------------------------------------------- the example
def test_example_runs_as_a_script():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, str(EXAMPLE), "--steps", "2", "--epochs", "3",
                          "--series-steps", "400", "--threads", "1", "--strategy", "infobatch"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("epoch ")]
    assert len(lines) == 3 and all("kept" in ln and "loss" in ln for ln in lines)


def test_example_main_prunes():
    spec = importlib.util.spec_from_file_location("own_loop_example", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    hist = mod.main(["--epochs", "3", "--series-steps", "400", "--strategy", "stprune", "--ratio", "0.5"])
    assert [h["epoch"] for h in hist] == [0, 1, 2]
    assert hist[0]["kept_fraction"] == 1.0                       # epoch 0: full data (warm-up)
    assert all(h["kept_fraction"] < 1.0 for h in hist[1:])       # then pruned
    assert all(h["forwarded"] == h["kept"] for h in hist)         # --steps 0: every kept window
    assert all(np.isfinite(h["train_loss"]) and np.isfinite(h["val_mae"]) for h in hist)


# ----------------------------------------------------------------------------- equal to the engine
def run_cfg(strategy: str, ratio: float, budget, params: dict, epochs: int = 8) -> dict:
    d = pruner_defaults(strategy)
    spec = StrategySpec(label=strategy, name=strategy, params={**d["params"], **params}, ratios=None)
    over = {"train": {"epochs": epochs, "batch_size": 32}, "dataset": {"max_steps": 250}}
    return resolve_run("SYNTHETIC", "stid", spec, ratio, 3, "smoke", [over], "test", budget=budget)


CASES = [
    ("infobatch", 0.5, None, {}),
    ("stprune", 0.5, None, {}),
    ("random", 0.5, None, {}),
    ("infobatch", 0.0, 0.5, {"budgeted": True}),
    ("stprune", 0.0, 0.5, {"budgeted": True}),
    ("random", 0.0, 0.5, {}),
    ("static", 0.5, None, {"score": "el2n"}),        # EL2N travels through record()
    ("ucb", 0.5, None, {}),                          # one update per epoch (UCB counts rounds)
]


@pytest.mark.parametrize("strategy,ratio,budget,params", CASES,
                         ids=[f"{c[0]}-{'b' if c[2] else 'r'}" for c in CASES])
def test_selection_and_weights_equal_the_engine(monkeypatch, strategy, ratio, budget, params):
    """The engine trains a real model; its selections, weights and fed-back (loss, el2n) are
    captured. A fresh pruner built with make_pruner is driven through PrunedSampler with the
    engine's losses (recorded in the sampler's own order and batches): every epoch's set of
    indices and every weight must be identical, and so must the engine's selection digest."""
    cfg = run_cfg(strategy, ratio, budget, params)
    seen: dict = {"select": [], "update": []}
    real_build_run = engine.build_run

    def spying_build_run(*a, **k):
        data, model, pruner = real_build_run(*a, **k)
        select, update = pruner.select, pruner.update

        def sel(epoch):
            s = select(epoch)
            seen["select"].append((epoch, s.indices.copy(), s.weights.copy()))
            return s

        def upd(indices, losses, el2n=None):
            seen["update"].append((np.array(indices), np.array(losses),
                                   None if el2n is None else np.array(el2n)))
            return update(indices, losses, el2n=el2n)

        pruner.select, pruner.update = sel, upd
        seen["data"] = data
        return data, model, pruner

    monkeypatch.setattr(engine, "build_run", spying_build_run)
    res = engine.train(cfg)
    monkeypatch.undo()
    epochs = cfg["train"]["epochs"]
    assert [e for e, _, _ in seen["select"]] == list(range(epochs))

    data = seen["data"]
    s = cfg["strategy"]
    pruner = make_pruner(strategy, n=res.n_train, epochs=epochs, seed=cfg["seed"],
                         ratio=None if budget is not None else s["ratio"], budget=budget,
                         **data.train_context(), **s["params"])
    sampler = PrunedSampler(pruner, seed=123)
    digest = hashlib.sha256()
    pruned_any = False
    for e in range(epochs):
        sampler.set_epoch(e)
        _, eng_idx, eng_w = seen["select"][e]
        order = np.fromiter(iter(sampler), dtype=np.int64)
        # the same set of indices, each exactly once
        assert len(sampler) == order.size == eng_idx.size
        np.testing.assert_array_equal(np.sort(order), np.sort(eng_idx))
        # the same weight for every index (bitwise: float32 tables from the same pruner code)
        w = sampler.weights_for(torch.from_numpy(eng_idx))
        assert w.dtype == torch.float32
        np.testing.assert_array_equal(w.numpy(), eng_w)
        digest.update(np.ascontiguousarray(sampler.selection.indices).tobytes())
        pruned_any |= order.size < res.n_train
        eng_table = np.zeros(res.n_train, dtype=np.float32)
        eng_table[eng_idx] = eng_w
        # feed back the engine's losses for these samples, in the sampler's order and batches
        upd_idx, upd_loss, upd_el2n = seen["update"][e]
        assert np.array_equal(np.sort(upd_idx), np.sort(order))
        pos = np.empty(res.n_train, dtype=np.int64)
        pos[upd_idx] = np.arange(upd_idx.size)
        for b in range(0, order.size, 32):
            ids = torch.from_numpy(order[b:b + 32])
            loss = torch.from_numpy(upd_loss[pos[ids.numpy()]])
            el2n = None if upd_el2n is None else torch.from_numpy(upd_el2n[pos[ids.numpy()]])
            got = sampler.weighted_loss(loss, ids, el2n=el2n)
            want = engine.LOSSES.get("sample_mean")(torch.from_numpy(eng_table[ids.numpy()]), loss,
                                                    torch.ones_like(loss))   # the engine's loss
            torch.testing.assert_close(got, want, rtol=0, atol=0)
        assert sampler.end_epoch()
    assert digest.hexdigest() == res.selected_digest
    assert pruned_any


def test_weighted_loss_is_mean_of_weighted_losses():
    pruner = make_pruner("random", n=40, epochs=3, seed=1, ratio=0.5, rescale=True)
    sampler = PrunedSampler(pruner)
    sampler.set_epoch(0)
    idx = torch.tensor(list(sampler)[:7])
    per = torch.rand(7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    w = sampler.weights_for(idx, like=per)
    assert w.shape == (7,) and torch.all(w == 2.0)                   # 1 / (1 - r)
    loss = sampler.weighted_loss(per, idx, record=False)
    torch.testing.assert_close(loss, (2.0 * per).mean())


# ----------------------------------------------------------------------------- DataLoader workers
def batches(num_workers: int, epochs: int = 3, n: int = 50) -> list:
    pruner = make_pruner("infobatch", n=n, epochs=epochs, seed=5, ratio=0.6)
    sampler = PrunedSampler(pruner, seed=9)
    loader = DataLoader(IndexedDataset(Numbers(n)), batch_size=8, sampler=sampler,
                        num_workers=num_workers, generator=torch.Generator().manual_seed(0))
    out = []
    for e in range(epochs):
        sampler.set_epoch(e)
        ep = []
        for idx, x in loader:
            assert idx.dtype == torch.int64
            torch.testing.assert_close(x, idx.to(x.dtype))         # the index travelled with its item
            sampler.weighted_loss(fake_losses(idx, e), idx)
            ep.append(idx.tolist())
        out.append(ep)
    return out


def test_workers_serve_the_same_batches():
    b0, b2 = batches(0), batches(2)
    assert b0 == b2
    assert len({tuple(sorted(sum(ep, []))) for ep in b0}) > 1      # the selection changed


# ----------------------------------------------------------------------------- no global RNG
@pytest.mark.parametrize("name,params", [("infobatch", {}), ("stprune", {}), ("random", {}),
                                         ("stprune", {"budgeted": True})])
def test_no_global_rng_touched(name, params):
    n, ctx = series_context()
    random.seed(11)
    np.random.seed(12)
    torch.manual_seed(13)
    before = rng_state()
    budget = 0.5 if params.get("budgeted") else None
    pruner = make_pruner(name, n=n, epochs=4, seed=2, ratio=None, budget=budget, **ctx, **params)
    sampler = PrunedSampler(pruner)
    loader = DataLoader(IndexedDataset(Numbers(n)), batch_size=16, sampler=sampler,
                        generator=torch.Generator().manual_seed(1))   # the DataLoader's own seed
    kept = []
    for e in range(4):
        sampler.set_epoch(e)
        for idx, _ in loader:
            sampler.weighted_loss(fake_losses(idx, e), idx)
        kept.append(sampler.info()["kept"])
        sampler.end_epoch()
    assert same_rng_state(before, rng_state())
    assert min(kept) < n


# ----------------------------------------------------------------------------- the contract
def test_epoch_rules():
    sampler = PrunedSampler(make_pruner("random", n=30, epochs=5, seed=0, ratio=0.5))
    assert len(sampler) == 15 and sampler.epoch == 0                 # len starts epoch 0
    first = list(sampler)
    with pytest.raises(RuntimeError, match="set_epoch"):
        list(sampler)                                                # a 2nd pass needs set_epoch
    sampler.set_epoch(0)                                             # same epoch: repeat allowed
    assert list(sampler) == first
    sampler.set_epoch(2)                                             # epochs may be skipped
    with pytest.raises(ValueError, match="before the current epoch"):
        sampler.set_epoch(1)
    with pytest.raises(ValueError, match="integer"):
        sampler.set_epoch(-1)


def test_order_depends_only_on_seed_and_epoch():
    """An epoch's order is drawn from (seed, epoch) alone: a sampler that jumps to epoch 2
    serves the order of one that went through epochs 0 and 1; another seed, another order."""
    def sampler(seed=7, **kw):
        return PrunedSampler(make_pruner("random", n=60, epochs=5, seed=4, ratio=0.3), seed=seed, **kw)

    a, b, c, d = sampler(), sampler(), sampler(seed=8), sampler(shuffle=False)
    for e in range(3):
        a.set_epoch(e)
        got_a = list(a)
    for s in (b, c, d):
        s.set_epoch(2)
    got_b, got_c, got_d = list(b), list(c), list(d)
    assert got_a == got_b
    assert sorted(got_c) == sorted(got_b) and got_c != got_b
    assert got_d == d.selection.indices.tolist()


def test_errors_are_clear():
    sampler = PrunedSampler(make_pruner("random", n=20, epochs=3, seed=0, ratio=0.5))
    sampler.set_epoch(0)
    chosen = set(sampler.selection.indices.tolist())
    other = next(i for i in range(20) if i not in chosen)
    with pytest.raises(ValueError, match="not selected"):
        sampler.weights_for(torch.tensor([other]))
    with pytest.raises(ValueError, match=r"\[0, 20\)"):
        sampler.record(torch.tensor([25]), torch.tensor([1.0]))
    i = torch.tensor(sorted(chosen)[:2])
    with pytest.raises(ValueError, match="per-sample"):
        sampler.weighted_loss(torch.ones(2, 3), i)
    with pytest.raises(ValueError, match="per-sample"):
        sampler.record(i, torch.ones(3))
    with pytest.raises(TypeError, match="integers"):
        sampler.weights_for(torch.tensor([0.0]))
    with pytest.raises(TypeError, match="Pruner"):
        PrunedSampler(object())
    with pytest.raises(ValueError, match="values"):
        make_pruner("stprune", n=20, epochs=3, seed=0)               # needs the series
    with pytest.raises(ValueError, match="starts has 5 windows"):
        make_pruner("stprune", n=20, epochs=3, seed=0, starts=np.arange(5))
    static = PrunedSampler(make_pruner("static", n=20, epochs=3, seed=0, score="el2n"))
    static.set_epoch(0)
    with pytest.raises(ValueError, match="EL2N"):
        static.record(torch.arange(3), torch.ones(3))
    sampler.end_epoch()
    with pytest.raises(RuntimeError, match="ended"):
        sampler.record(i, torch.ones(2))


def test_make_pruner_defaults_and_budget():
    p = make_pruner("infobatch", n=100, epochs=8, seed=0)
    assert p.ratio == 0.5 and p.anneal == 0.875                       # configs/pruners/infobatch.yaml
    q = make_pruner("random", n=100, epochs=4, seed=0, budget=0.5)
    assert q.budget == 0.5 and int(q.planned_counts.sum()) == 200
    n, ctx = series_context()
    r = make_pruner("stprune", n=n, epochs=4, seed=0, ratio=0.3, **ctx)
    assert r.complexity is not None and r.complexity.shape == (n,)


def test_update_once_per_epoch_last_record_wins():
    pruner = make_pruner("infobatch", n=10, epochs=4, seed=0, ratio=0.5)
    calls = []
    real = pruner.update
    pruner.update = lambda i, l, el2n=None: (calls.append((np.array(i), np.array(l))), real(i, l, el2n))
    sampler = PrunedSampler(pruner)
    sampler.set_epoch(0)
    sampler.record(torch.tensor([1, 2, 3]), torch.tensor([1.0, 2.0, 3.0]))
    sampler.record(torch.tensor([2]), torch.tensor([9.0]))             # 2 again: the last counts
    sampler.set_epoch(1)                                                # ends epoch 0
    sampler.set_epoch(2)                                                # nothing recorded in 1
    assert len(calls) == 2
    np.testing.assert_array_equal(calls[0][0], [1, 3, 2])
    np.testing.assert_array_equal(calls[0][1], [1.0, 3.0, 9.0])
    assert calls[1][0].size == 0
    assert pruner.memory.loss[2] == 9.0
    assert sampler.end_epoch() and not sampler.end_epoch()             # once per epoch


def test_indexed_dataset():
    ds = IndexedDataset(Numbers(4))
    assert len(ds) == 4 and ds[2] == (2, torch.tensor(2.0))
    idx, x = next(iter(DataLoader(ds, batch_size=4)))
    assert idx.tolist() == [0, 1, 2, 3] and x.tolist() == [0.0, 1.0, 2.0, 3.0]


def as_dict(items: list) -> dict:
    """A library-style collate: the batch as {"x": (B,)}."""
    return {"x": torch.stack(items)}


def test_indexed_collate_wraps_a_library_collate():
    collate = pickle.loads(pickle.dumps(indexed_collate(as_dict)))     # picklable for workers
    loader = DataLoader(IndexedDataset(Numbers(6)), batch_size=3, collate_fn=collate)
    idx, batch = next(iter(loader))
    assert idx.tolist() == [0, 1, 2] and batch["x"].tolist() == [0.0, 1.0, 2.0]
    idx, (x,) = indexed_collate()([(4, (torch.tensor(4.0),)), (5, (torch.tensor(5.0),))])
    assert idx.tolist() == [4, 5] and x.tolist() == [4.0, 5.0]
