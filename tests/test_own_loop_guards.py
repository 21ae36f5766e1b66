"""Own-loop guards (pruning/loop.py): every silent overspend or misuse is an error or a
warning, the control's shortened schedule is public, and pruner / sampler state resumes."""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from stbench import datasets
from stbench.benchmarks.engine import run_schedule
from stbench.pruning import PrunedSampler, make_pruner, prebatched_collate, shortened_schedule


def losses_for(idx, epoch):
    i = torch.as_tensor(idx, dtype=torch.float64)
    return (torch.sin(i * 0.37 + epoch * 1.3) + 1.5).to(torch.float32)


def run_epoch(sampler, epoch, batch=7, stop=None):
    """Serve epoch ``epoch`` in batches, record fake losses; returns the served order."""
    sampler.set_epoch(epoch)
    order = list(iter(sampler))
    for j in range(0, len(order), batch):
        if stop is not None and j >= stop:
            break
        idx = torch.tensor(order[j:j + batch])
        sampler.weighted_loss(losses_for(idx, epoch), idx)
    return order


# ----------------------------------------------------------------------------- schedule
@pytest.mark.parametrize("epochs,budget,milestones", [(24, 0.5, [1, 10, 16]), (24, 0.166667, [1, 10, 16]),
                                                      (12, 0.333333, [1, 5, 8]), (5, 0.1, [2, 4]), (7, 1.0, []),
                                                      # collisions: moved apart (20, 1/4) or merged (12, 1/4)
                                                      (20, 0.25, [1, 3, 14]), (12, 0.25, [1, 5, 8])])
def test_shortened_schedule_is_the_engines(epochs, budget, milestones):
    cfg = {"train": {"epochs": epochs, "milestones": milestones},
           "strategy": {"name": "full", "budget": budget}}
    assert shortened_schedule(epochs, budget, milestones) == run_schedule(cfg)


def test_shortened_schedule_checks_its_arguments():
    with pytest.raises(ValueError, match=r"budget must be a number in \(0, 1\], got 0"):
        shortened_schedule(10, 0)
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        shortened_schedule(0, 0.5)


# ----------------------------------------------------------------------------- guards
def test_full_at_a_budget_does_not_serve_past_its_schedule():
    s = PrunedSampler(make_pruner("full", n=10, epochs=4, budget=0.5))
    run_epoch(s, 0)
    run_epoch(s, 1)
    with pytest.raises(ValueError, match=r"epoch 2 is past the budget: pruner 'full' at budget 0.5 plans 2 of 4 "
                                         r"epochs; train shortened_schedule\(4, 0.5, milestones\) = 2 epochs"):
        s.set_epoch(2)


def test_set_epoch_past_the_pruners_epochs():
    s = PrunedSampler(make_pruner("random", n=10, epochs=3, ratio=0.5))
    for e in range(3):
        run_epoch(s, e)
    with pytest.raises(ValueError, match=r"epoch 3 is past the pruner's schedule of 3 epochs \(0..2\)"):
        s.set_epoch(3)


def test_never_recording_losses_warns_for_a_learning_pruner():
    s = PrunedSampler(make_pruner("infobatch", n=20, epochs=4, ratio=0.5))
    s.set_epoch(0)
    list(iter(s))
    with pytest.warns(RuntimeWarning, match="epoch 0 ended with no recorded losses: pruner 'infobatch' learns"):
        s.set_epoch(1)
    quiet = PrunedSampler(make_pruner("random", n=20, epochs=4, ratio=0.5))  # random learns nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quiet.set_epoch(0)
        quiet.set_epoch(1)


def test_nan_losses_name_the_epoch_and_the_count():
    s = PrunedSampler(make_pruner("infobatch", n=10, epochs=4, ratio=0.5))
    run_epoch(s, 0)
    s.set_epoch(1)
    idx = torch.tensor(list(iter(s)))
    per = losses_for(idx, 1)
    per[[0, 3]] = float("nan")
    s.record(idx, per)
    with pytest.raises(ValueError, match=f"epoch 1: 2 of the {idx.numel()} recorded losses are NaN or infinite"):
        s.end_epoch()


def test_ratio_and_budget_together_is_an_error():
    with pytest.raises(ValueError, match="give ratio or budget, not both"):
        make_pruner("random", n=10, epochs=4, ratio=0.5, budget=0.5)


def test_a_budget_overspent_warns_at_the_last_epoch():
    """Budgeted InfoBatch at 1/4: epoch 0 is full data (the whole budget), and the below-mean
    candidates cannot cover the drop quota later: the deficit is said, not only in info()."""
    s = PrunedSampler(make_pruner("infobatch", n=40, epochs=4, budget=0.25, budgeted=True))
    with pytest.warns(RuntimeWarning, match=r"at budget 0.25 served \d+ sample passes over 4 epochs, \d+ more "
                                            r"than the budget's 40"):
        for e in range(4):
            run_epoch(s, e)
        s.end_epoch()
    assert s.info()["served_passes"] > 40


# ----------------------------------------------------------------------------- resume
CASES = [("infobatch", dict(ratio=0.5)), ("infobatch", dict(budget=0.5, budgeted=True)),
         ("random", dict(ratio=0.3)), ("rs2", dict(ratio=0.5)), ("ucb", dict(ratio=0.5)),
         ("epsilon_greedy", dict(ratio=0.5)), ("static", dict(ratio=0.5))]


@pytest.mark.parametrize("name,kw", CASES)
def test_resumed_loop_continues_the_same_selection(name, kw):
    E, n = 6, 50

    def fresh():
        return PrunedSampler(make_pruner(name, n=n, epochs=E, seed=3, **kw))

    ref = fresh()
    want = []
    for e in range(E):
        order = run_epoch(ref, e)
        want.append((order, ref.selection.weights.copy()))
    # interrupted after epoch 2 (ended) and in the middle of epoch 3
    for stop in (None, 14):
        a = fresh()
        for e in range(3):
            run_epoch(a, e)
        if stop is None:
            a.end_epoch()
            first = 3
        else:
            run_epoch(a, 3, stop=stop)
            first = 4
        blob = pickle.dumps(a.state_dict())
        b = fresh()
        b.load_state_dict(pickle.loads(blob))
        if stop is not None:  # finish epoch 3's batches after the restart
            order = list(b._order)
            for j in range(stop, len(order), 7):
                idx = torch.tensor(order[j:j + 7])
                b.weighted_loss(losses_for(idx, 3), idx)
        for e in range(first, E):
            order = run_epoch(b, e)
            assert order == want[e][0], (name, e, stop)
            assert np.array_equal(b.selection.weights, want[e][1])


def test_state_of_another_pruner_is_refused():
    a = PrunedSampler(make_pruner("random", n=10, epochs=4, ratio=0.5))
    b = PrunedSampler(make_pruner("random", n=11, epochs=4, ratio=0.5))
    with pytest.raises(ValueError, match="the state is of n = 10, this pruner has n = 11"):
        b.load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="expects the dict that state_dict"):
        b.load_state_dict({})


# ----------------------------------------------------------------------------- the suite's data set
def test_window_dataset_in_a_dataloader():
    """The suite's WindowDataset gathers whole batches (__getitems__): torch's default collate
    cannot take them (KeyError: 0), prebatched_collate can (docs/own_loop.md)."""
    data = datasets.load_windowed("SYNTHETIC", max_steps=300)
    ds = datasets.protocol.WindowDataset(data, "train")
    sampler = PrunedSampler(make_pruner("infobatch", n=len(ds), epochs=2, ratio=0.5))
    with pytest.raises(KeyError):
        sampler.set_epoch(0)
        next(iter(DataLoader(ds, batch_size=8, sampler=sampler)))
    s = PrunedSampler(make_pruner("infobatch", n=len(ds), epochs=2, ratio=0.5))
    seen = []
    for epoch in range(2):
        s.set_epoch(epoch)
        for batch in DataLoader(ds, batch_size=8, sampler=s, collate_fn=prebatched_collate):
            assert batch["x"].shape[0] == batch["index"].shape[0] <= 8
            per = batch["y"].abs().flatten(1).mean(1)
            s.weighted_loss(per, batch["index"])
            seen += batch["index"].tolist()
    assert sorted(seen[:len(ds)]) == list(range(len(ds)))
