"""The pruners from any PyTorch training loop: a ``Sampler`` that selects and weighs.

The engine (benchmarks/engine.py) is one way to drive a pruner; this module is the other:
a ``torch.utils.data.Sampler`` that asks the pruner for each epoch's selection, serves its
indices in a seeded random order, gives the weight of every served index and hands the
per-sample losses it was given back to the pruner when the epoch ends. Three lines in a
user's loop (docs/own_loop.md)::

    sampler = PrunedSampler(make_pruner("infobatch", n=len(ds), epochs=E, seed=0, ratio=0.5))
    loader = DataLoader(IndexedDataset(ds), batch_size=B, sampler=sampler)   # sampler=
    for epoch in range(E):
        sampler.set_epoch(epoch)                                              # per epoch
        for idx, (x, y) in loader:
            per = per_sample_loss(model(x), y)                                # (B,)
            loss = sampler.weighted_loss(per, idx)                            # mean_i w_i l_i
            ...backward, step...

Formulas and shapes, per batch of B samples with training-sample ids ``idx`` (B,) int64
and per-sample losses ``l`` (B,) (any per-sample loss: the pruners rank by it; the suite
uses each window's masked MAE over its own valid entries)::

    w    = sampler.weights_for(idx)          (B,) float32, w_i = weight of sample i this epoch
    loss = mean_i w_i l_i                    scalar (what ``weighted_loss`` returns)

and the epoch's recorded (idx, l) are given to ``pruner.update(idx, l, el2n)`` once, at the
end of the epoch (``end_epoch()``, or the next ``set_epoch``), as the engine does.

Rules: nothing global. The order of an epoch comes from the sampler's own generator,
``numpy.random.default_rng([seed, epoch, tag])`` (so an epoch's order does not depend on
earlier epochs, and a resumed run sees the same order); the pruner draws from its own
``rng(epoch)``; no global RNG (``random``, NumPy's, torch's) is read or advanced, nothing is
patched. The sampler lives in the main process: with ``DataLoader(num_workers > 0)`` only
the indices travel to the workers, and the data set must return each item's index with it
(``IndexedDataset`` adds it). A DataLoader itself draws its workers' base seed from torch's
global RNG unless it is given ``generator=torch.Generator()``.

Equality with the engine: for the same pruner, seed and fed-back losses, every epoch's
selected set and per-sample weights are the engine's (tests/test_own_loop.py); the order
within an epoch is the sampler's own stream, not the engine's.
"""
from __future__ import annotations

import copy
import warnings
from typing import Iterator, List, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .base import PruneContext, Pruner, Selection, build_pruner, name_tag, pruner_class

__all__ = ["PrunedSampler", "IndexedDataset", "indexed_collate", "prebatched_collate", "make_pruner",
           "shortened_schedule"]

#: tag of the sampler's order stream (distinct from every strategy's own stream)
ORDER_TAG = name_tag("stbench.PrunedSampler.order")


class PrunedSampler(Sampler[int]):
    """Sampler over the training-sample ids 0..n-1 that a pruner selects each epoch.

    ``pruner``: a built strategy (``make_pruner`` or ``build_pruner``); the sampler becomes
    its only driver (do not call its ``select``/``update`` elsewhere).
    ``seed``: seeds the order stream (default: the pruner's run seed, ``pruner.ctx.seed``).
    ``shuffle``: False serves the selection in the pruner's order (mostly ascending).

    Per epoch e: ``set_epoch(e)`` (ends the previous epoch, then ``pruner.select(e)``),
    iterate once (``len(sampler)`` = the number of selected samples), ``weights_for`` /
    ``record`` (or ``weighted_loss``, which does both) for each batch, and ``end_epoch()``
    (optional: the next ``set_epoch`` does it). Epochs must not go backwards.
    """

    def __init__(self, pruner: Pruner, seed: Optional[int] = None, *, shuffle: bool = True):
        super().__init__()
        if not isinstance(pruner, Pruner):
            raise TypeError(f"PrunedSampler: pruner must be a pruning.base.Pruner (make_pruner / "
                            f"build_pruner), got {type(pruner).__name__}")
        self.pruner = pruner
        self.n = int(pruner.n)
        base = pruner.ctx.seed if seed is None else seed
        if isinstance(base, bool) or not isinstance(base, (int, np.integer)) or base < 0:
            raise ValueError(f"PrunedSampler: seed must be an integer >= 0, got {base!r}")
        self.seed = int(base)
        self.shuffle = bool(shuffle)
        self._epoch: Optional[int] = None
        self._selection: Optional[Selection] = None
        self._order: np.ndarray = np.zeros(0, dtype=np.int64)
        self._weight = torch.zeros(self.n, dtype=torch.float32)   # (n,) weight table, 0 = not selected
        self._chosen = torch.zeros(self.n, dtype=torch.bool)      # (n,) selected this epoch
        self._on_device: dict = {}                               # device -> weight table there
        self._ended = True
        self._iterated = False
        self._ids: List[torch.Tensor] = []
        self._losses: List[torch.Tensor] = []
        self._el2n: List[torch.Tensor] = []
        self._served: dict = {}                                  # epoch -> samples selected
        self._silent_epochs = 0                                  # epochs ended with no recorded loss

    # ------------------------------------------------------------------ epochs
    @property
    def epoch(self) -> Optional[int]:
        """The current epoch (None before the first ``set_epoch`` / iteration)."""
        return self._epoch

    @property
    def selection(self) -> Selection:
        """The current epoch's ``Selection`` (indices (k,) int64, weights (k,) float32)."""
        self._ensure_epoch()
        return self._selection

    @property
    def wants_el2n(self) -> bool:
        """True if the pruner scores with EL2N: then ``record`` needs ``el2n`` (B,)."""
        return bool(self.pruner.wants_el2n)

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch``: end the current one (``pruner.update``), then ``pruner.select(epoch)``.

        Calling it again with the current epoch changes nothing but allows one more pass over
        the same selection (same order). An earlier epoch is an error.
        """
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"PrunedSampler.set_epoch: epoch must be an integer >= 0, got {epoch!r}")
        epoch = int(epoch)
        if self._epoch is not None and epoch == self._epoch:
            self._iterated = False
            return
        if self._epoch is not None and epoch < self._epoch:
            raise ValueError(f"PrunedSampler.set_epoch: epoch {epoch} is before the current epoch "
                             f"{self._epoch}; a pruner's state only moves forward (build a new one)")
        if epoch >= self.pruner.epochs:
            raise ValueError(f"PrunedSampler.set_epoch: epoch {epoch} is past the pruner's schedule of "
                             f"{self.pruner.epochs} epochs (0..{self.pruner.epochs - 1}): build it with "
                             f"make_pruner(..., epochs=E) for the epochs you train (its annealing and "
                             f"budget plans depend on E)")
        plan = self.pruner.planned_counts
        if plan is not None and int(plan[epoch]) == 0:
            short = int(np.count_nonzero(plan))
            raise ValueError(f"PrunedSampler.set_epoch: epoch {epoch} is past the budget: pruner "
                             f"{self.pruner.registry_name!r} at budget {self.pruner.budget:g} plans "
                             f"{short} of {self.pruner.epochs} epochs; train shortened_schedule("
                             f"{self.pruner.epochs}, {self.pruner.budget:g}, milestones) = {short} epochs")
        self.end_epoch()
        sel = self.pruner.select(epoch)
        idx, w = self._checked(sel)
        self._epoch, self._selection = epoch, sel
        self._weight.zero_()
        self._chosen.zero_()
        self._weight[torch.from_numpy(idx)] = torch.from_numpy(w)
        self._chosen[torch.from_numpy(idx)] = True
        self._on_device = {}
        if self.shuffle:
            perm = np.random.default_rng([self.seed, epoch, ORDER_TAG]).permutation(idx.size)
            self._order = idx[perm]
        else:
            self._order = idx.copy()
        self._ended, self._iterated = False, False
        self._served[epoch] = int(idx.size)

    def end_epoch(self) -> bool:
        """Hand the epoch's recorded losses to ``pruner.update`` (once; True if it ran now).

        Every epoch gets exactly one update, as in the engine, even with nothing recorded
        (then with empty arrays). A sample recorded twice counts with its last loss.
        """
        if self._epoch is None or self._ended:
            return False
        ids, losses, el2n = self._collect()
        self._ended = True
        self._ids, self._losses, self._el2n = [], [], []
        epoch, who = self._epoch, f"pruner {self.pruner.registry_name!r}"
        for what, arr in (("losses", losses), ("el2n values", el2n)):
            bad = int(np.count_nonzero(~np.isfinite(arr))) if arr is not None else 0
            if bad:
                raise ValueError(f"PrunedSampler: epoch {epoch}: {bad} of the {arr.size} recorded {what} "
                                 f"are NaN or infinite; {who} would rank samples by them (the training "
                                 f"diverged, or a sample's loss has no valid entry: give it a finite loss)")
        if ids.size == 0 and self._served.get(epoch, 0) and _learns(self.pruner):
            self._silent_epochs += 1
            warnings.warn(f"PrunedSampler: epoch {epoch} ended with no recorded losses: {who} learns "
                          f"from them and will keep selecting as if it had seen none (call "
                          f"sampler.weighted_loss(per_sample_losses, idx) or sampler.record(idx, "
                          f"per_sample_losses) for every batch)", RuntimeWarning, stacklevel=2)
        self.pruner.update(ids, losses, el2n=el2n)
        if epoch == self.pruner.epochs - 1:
            self._check_budget()
        return True

    def _check_budget(self) -> None:
        """After the last epoch of a budget run: warn when the epochs served more samples than
        the budget allows (e.g. a budgeted strategy that could not drop its quota)."""
        b = self.pruner.budget
        if b is None:
            return
        total = self.pruner.epochs * self.n
        served = sum(self._served.values())
        allowed = int(round(b * total))
        if served > allowed:
            warnings.warn(f"PrunedSampler: pruner {self.pruner.registry_name!r} at budget {b:g} served "
                          f"{served} sample passes over {self.pruner.epochs} epochs, {served - allowed} "
                          f"more than the budget's {allowed} (reached {served / total:.4f}; its "
                          f"extra_info()['deficit'] says why)", RuntimeWarning, stacklevel=3)

    def _ensure_epoch(self) -> None:
        if self._epoch is None:
            self.set_epoch(0)

    # ------------------------------------------------------------------ Sampler
    def __iter__(self) -> Iterator[int]:
        self._ensure_epoch()
        if self._ended:
            raise RuntimeError(f"PrunedSampler: epoch {self._epoch} has ended; call "
                               f"set_epoch({self._epoch + 1}) before the next pass")
        if self._iterated:
            raise RuntimeError(f"PrunedSampler: a second pass over epoch {self._epoch}: call "
                               f"sampler.set_epoch(epoch) at the start of every epoch (as with "
                               f"DistributedSampler), or set_epoch({self._epoch}) to repeat it")
        self._iterated = True
        return iter(self._order.tolist())

    def __len__(self) -> int:
        self._ensure_epoch()
        return int(self._order.size)

    # ------------------------------------------------------------------ weights and losses
    def weights_for(self, indices, like: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(B,) float32 weights w_i of the samples ``indices`` (B,) of this epoch's selection.

        On ``like.device`` when ``like`` (e.g. the per-sample losses) is given, else on the
        CPU. An index that was not selected this epoch is an error (wrong sampler or epoch).
        """
        self._ensure_epoch()
        return self._weights(self._cpu_ids(indices, "weights_for"),
                             like.device if like is not None else None)

    def record(self, indices, losses: torch.Tensor, el2n: Optional[torch.Tensor] = None) -> None:
        """Keep the per-sample ``losses`` (B,) (and ``el2n`` (B,)) of ``indices`` (B,) for
        ``pruner.update`` at the end of the epoch. Detached; no host sync per batch."""
        self._ensure_epoch()
        self._record(self._cpu_ids(indices, "record"), losses, el2n, "record")

    def weighted_loss(self, losses: torch.Tensor, indices, el2n: Optional[torch.Tensor] = None,
                      record: bool = True) -> torch.Tensor:
        """mean_i w_i l_i over the batch for per-sample ``losses`` (B,), w = ``weights_for(indices)``;
        records the losses too (``record=False``: only the loss). The engine's ``sample_mean``."""
        self._ensure_epoch()
        idx = self._cpu_ids(indices, "weighted_loss")
        per = _per_sample(losses, idx.numel(), "weighted_loss", "losses")
        w = self._weights(idx, per.device)
        if record:
            self._record(idx, per, el2n, "weighted_loss")
        return (w * per).mean()

    # ------------------------------------------------------------------ diagnostics
    @property
    def kept_fraction(self) -> float:
        """Selected samples / n this epoch."""
        return len(self) / self.n

    def info(self) -> dict:
        """This epoch's epoch, kept count and fraction, weight sum and the pruner's extra_info()."""
        sel = self.selection
        return {"epoch": self._epoch, "kept": int(sel.indices.size), "kept_fraction": self.kept_fraction,
                "served_passes": self.served_passes,
                "weight_sum": float(sel.weights.sum(dtype=np.float64)),
                **dict(self.pruner.extra_info() or {})}

    @property
    def served_passes(self) -> int:
        """Samples selected over the epochs started so far (each epoch counted once)."""
        return int(sum(self._served.values()))

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict:
        """Everything a resumed loop needs: the pruner's state, the epoch, whether it ended, the
        current selection and order, and the losses recorded so far in an unfinished epoch.
        Save it with ``torch.save`` (load with ``weights_only=False``) or ``pickle``."""
        ids, losses, el2n = self._collect() if not self._ended else (None, None, None)
        sel = self._selection
        return {"version": 1, "seed": self.seed, "shuffle": self.shuffle, "epoch": self._epoch,
                "ended": self._ended, "iterated": self._iterated, "served": dict(self._served),
                "selection": None if sel is None else (np.array(sel.indices), np.array(sel.weights)),
                "order": self._order.copy(), "recorded": (ids, losses, el2n),
                "pruner": self.pruner.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()`` into a sampler over a pruner built with the same arguments:
        the next ``set_epoch`` selects what the saved loop would have selected."""
        if not isinstance(state, dict) or state.get("version") != 1:
            raise ValueError("PrunedSampler.load_state_dict expects the dict that state_dict() returned")
        if state["seed"] != self.seed or state["shuffle"] != self.shuffle:
            raise ValueError(f"PrunedSampler.load_state_dict: the state is of seed={state['seed']}, "
                             f"shuffle={state['shuffle']}; this sampler has seed={self.seed}, "
                             f"shuffle={self.shuffle}")
        self.pruner.load_state_dict(state["pruner"])
        self._epoch, self._ended, self._iterated = state["epoch"], state["ended"], state["iterated"]
        self._served = dict(state["served"])
        self._order = np.array(state["order"], dtype=np.int64)
        self._weight.zero_()
        self._chosen.zero_()
        self._on_device = {}
        self._selection = None
        if state["selection"] is not None:
            idx, w = state["selection"]
            self._selection = Selection(idx, w)
            self._weight[torch.from_numpy(self._selection.indices)] = torch.from_numpy(self._selection.weights)
            self._chosen[torch.from_numpy(self._selection.indices)] = True
        ids, losses, el2n = state["recorded"]
        self._ids, self._losses, self._el2n = [], [], []
        if ids is not None and ids.size:
            self._ids.append(torch.from_numpy(np.array(ids)))
            self._losses.append(torch.from_numpy(np.array(losses)))
            if el2n is not None:
                self._el2n.append(torch.from_numpy(np.array(el2n)))

    def __repr__(self) -> str:
        return (f"PrunedSampler({self.pruner.registry_name!r}, n={self.n}, seed={self.seed}, "
                f"epoch={self._epoch})")

    # ------------------------------------------------------------------ internals
    def _checked(self, sel: Selection) -> tuple:
        idx = np.asarray(sel.indices, dtype=np.int64).reshape(-1)
        w = np.asarray(sel.weights, dtype=np.float32).reshape(-1)
        who = f"pruner {self.pruner.registry_name!r}"
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise ValueError(f"PrunedSampler: {who} selected indices outside [0, {self.n})")
        if np.bincount(idx, minlength=self.n).max(initial=0) > 1:
            raise ValueError(f"PrunedSampler: {who} selected an index twice")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"PrunedSampler: {who} gave weights that are not finite and >= 0")
        return idx, w

    def _cpu_ids(self, indices, who: str) -> torch.Tensor:
        idx = torch.as_tensor(indices)
        if idx.dtype.is_floating_point or idx.dtype == torch.bool:
            raise TypeError(f"PrunedSampler.{who}: indices must be integers, got {idx.dtype}")
        idx = idx.reshape(-1).to("cpu", torch.long)
        if idx.numel():
            lo, hi = int(idx.min()), int(idx.max())
            if lo < 0 or hi >= self.n:
                raise ValueError(f"PrunedSampler.{who}: indices must lie in [0, {self.n}), got "
                                 f"[{lo}, {hi}]")
            if not bool(self._chosen[idx].all()):
                bad = idx[~self._chosen[idx]][:5].tolist()
                raise ValueError(f"PrunedSampler.{who}: indices {bad} were not selected in epoch "
                                 f"{self._epoch} (is the index the one this sampler served?)")
        return idx

    def _weights(self, idx: torch.Tensor, device: Optional[torch.device]) -> torch.Tensor:
        if device is None or device.type == "cpu":
            return self._weight[idx]
        table = self._on_device.get(device)
        if table is None:
            table = self._on_device[device] = self._weight.to(device)
        return table[idx.to(device, non_blocking=True)]

    def _record(self, idx: torch.Tensor, losses, el2n, who: str) -> None:
        if self._ended:
            raise RuntimeError(f"PrunedSampler.{who}: epoch {self._epoch} has ended; call set_epoch first")
        per = _per_sample(losses, idx.numel(), who, "losses").detach()
        if el2n is None and self.wants_el2n:
            raise ValueError(f"PrunedSampler.{who}: pruner {self.pruner.registry_name!r} scores "
                             f"with EL2N: pass el2n (B,), the L2 norm of each sample's error")
        e = _per_sample(el2n, idx.numel(), who, "el2n").detach() if el2n is not None else None
        self._ids.append(idx)
        self._losses.append(per)
        if e is not None:
            self._el2n.append(e)

    def _collect(self) -> tuple:
        """(ids (m,) int64, losses (m,) float64, el2n (m,) float64 or None), last record wins."""
        if self._ids:
            ids = torch.cat(self._ids).numpy()
            losses = torch.cat([t.reshape(-1) for t in self._losses]).to("cpu", torch.float64).numpy()
            el2n = (torch.cat([t.reshape(-1) for t in self._el2n]).to("cpu", torch.float64).numpy()
                    if self._el2n else None)
        else:
            ids, losses = np.zeros(0, np.int64), np.zeros(0, np.float64)
            el2n = np.zeros(0, np.float64) if self.wants_el2n else None
        if el2n is not None and el2n.size != ids.size:
            raise ValueError(f"PrunedSampler: el2n was given for {el2n.size} of the epoch's "
                             f"{ids.size} recorded samples (give it with every record or never)")
        if ids.size and np.bincount(ids, minlength=self.n).max() > 1:
            rev = ids[::-1]
            _, first = np.unique(rev, return_index=True)       # last occurrence of each id
            keep = np.sort(ids.size - 1 - first)
            ids, losses = ids[keep], losses[keep]
            el2n = el2n[keep] if el2n is not None else None
        return ids, losses, (el2n if self.wants_el2n else None)


def _learns(pruner: Pruner) -> bool:
    """True if the pruner's class overrides ``update`` (it learns from the recorded losses)."""
    return type(pruner).update is not Pruner.update


def prebatched_collate(batch):
    """``collate_fn`` for data sets whose ``__getitems__`` returns a whole batch already (the
    suite's ``datasets.protocol.WindowDataset``: a dict of x, y, mask and ``index``); a list
    of items goes through torch's ``default_collate``. Picklable (works with workers)."""
    if isinstance(batch, list):
        from torch.utils.data import default_collate
        return default_collate(batch)
    return batch


def _per_sample(x, count: Optional[int], who: str, what: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.ndim != 1 or (count is not None and t.numel() != count):
        want = "(B,)" if count is None else f"({count},)"
        raise ValueError(f"PrunedSampler.{who}: {what} must be per-sample, shape {want}, got "
                         f"{tuple(t.shape)} (reduce every dimension but the batch first)")
    return t


class IndexedDataset(Dataset):
    """``ds[i]`` as ``(i, ds[i])``: the index travels with the item (and through workers).

    The default collate turns a batch into ``(idx (B,) int64, collated items)``.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        return int(i), self.dataset[i]


class _IndexedCollate:
    """Picklable collate of ``(i, item)`` pairs: ``(idx (B,) int64, inner([items]))``."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, pairs):
        idx = torch.tensor([int(i) for i, _ in pairs], dtype=torch.long)
        return idx, self.inner([item for _, item in pairs])


def indexed_collate(inner=None):
    """A ``collate_fn`` for ``IndexedDataset`` batches whose items need a library's own collate
    (``inner``, default torch's ``default_collate``): returns ``(idx (B,) int64, inner(items))``.
    Picklable when ``inner`` is (module-level functions are), so it works with workers."""
    if inner is None:
        from torch.utils.data import default_collate as inner
    return _IndexedCollate(inner)


def make_pruner(name: str, n: int, epochs: int, seed: int = 0, *, ratio: Optional[float] = None,
                budget: Optional[float] = None, values: Optional[np.ndarray] = None,
                starts: Optional[Sequence[int]] = None, adj: Optional[np.ndarray] = None,
                in_steps: int = 12, out_steps: int = 12, **params) -> Pruner:
    """Build strategy ``name`` for ``n`` training windows and ``epochs`` epochs (no engine).

    ``ratio``: the prune ratio (None: the strategy's YAML default, configs/pruners/NAME.yaml);
    ``budget``: a compute budget b in (0, 1] instead (the ratio is then ignored; see
    docs/budgets.md; ``full`` at a budget means training max(1, round(b E)) epochs).
    ``params``: the strategy's parameters (defaults: its YAML).
    Strategies that score the series (``stprune``; ``static`` with ``score: complexity``)
    need ``values`` (T, N) (z-scored training series, NaN where missing), ``starts`` (n,)
    window start steps (window i covers values[starts[i] : starts[i] + in_steps + out_steps])
    and ``adj`` (N, N); ``**data.train_context()`` of a ``datasets.WindowedData`` passes all.
    """
    n, epochs = _count(n, "n", 1), _count(epochs, "epochs", 1)
    if starts is not None:
        starts = np.asarray(starts, dtype=np.int64).reshape(-1)
        if starts.size != n:
            raise ValueError(f"make_pruner({name!r}): starts has {starts.size} windows but n = {n}")
    if values is not None:
        values = np.asarray(values, dtype=np.float32)
    if adj is not None:
        adj = np.asarray(adj, dtype=np.float32)
    ctx = PruneContext(n=n, epochs=epochs, seed=_count(seed, "seed", 0), values=values, starts=starts,
                       in_steps=_count(in_steps, "in_steps", 1), out_steps=_count(out_steps, "out_steps", 1),
                       adj=adj)
    if ratio is not None and budget is not None:
        raise ValueError(f"make_pruner({name!r}): give ratio or budget, not both (at a budget the "
                         f"strategy plans its own counts and a ratio would be ignored)")
    if ratio is None:
        ratio = float(pruner_class(name).defaults()["ratio"]) if budget is None else 0.0
    try:
        return build_pruner(name, ctx, ratio=ratio, budget=budget, **params)
    except ValueError as e:
        if values is None and "PruneContext.values" in str(e):
            raise ValueError(f"make_pruner({name!r}): this strategy scores the series: pass "
                             f"values (T, N), starts (n,) and adj (N, N) (e.g. "
                             f"**data.train_context()) [{e}]") from e
        raise


def _count(v, what: str, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ValueError(f"make_pruner: {what} must be an integer >= {lo}, got {v!r}")
    return int(v)


def shortened_schedule(epochs: int, budget: float, milestones: Sequence[int] = ()) -> tuple:
    """The full-data control at compute budget ``budget``: ``(epochs_b, milestones_b)``.

    ``epochs_b = max(1, round(budget * epochs))`` epochs of full data, and every learning-rate
    milestone m moved to ``max(1, round(m * epochs_b / epochs))``, kept distinct and ordered
    (pruning/schedule.py ``shorten_milestones``, which also says when decays merge) -- the
    schedule the suite's engine trains ``full`` with at a budget (docs/budgets.md). Train
    your control for ``epochs_b`` epochs (``make_pruner("full", ..., budget=b)`` plans the
    same: its sampler refuses an epoch past ``epochs_b``).
    """
    epochs = _count(epochs, "epochs", 1)
    ok = isinstance(budget, (int, float)) and not isinstance(budget, bool) and 0.0 < float(budget) <= 1.0
    if not ok:
        raise ValueError(f"shortened_schedule: budget must be a number in (0, 1], got {budget!r}")
    from stbench.pruning.schedule import shorten

    return shorten(epochs, float(budget), milestones)
