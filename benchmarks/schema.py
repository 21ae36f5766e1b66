"""The suite schema: a whole suite checked before anything runs, every problem at once.

:func:`validate_suite` walks a suite the way :func:`benchmarks.config.load_suite` expands
it (top level, ``experiments``, every cell of the grid), collects every problem instead
of stopping at the first, and raises one :class:`~benchmarks.config.ConfigError` whose
lines each name the suite file, the YAML path and what was expected::

    configs/x.yaml.experiments[2].strategies[1].params.lam: stprune's lam must be a number in [0, 1], got 'high'

Checked, besides what config.py checks one value at a time (keys, types, ranges):

* keys anywhere, with a did-you-mean; keys of ``strategy_params`` / ``model_params`` must
  name a strategy (label or name) / a model of the suite (of the block, for a block's own);
* empty lists (``budgets: []``, ``ratios: []``, a strategy's ``budgets: []``) and values
  the grid would not use: ``ratios`` beside ``budgets`` in one block (a budget grid takes
  no prune ratio: a strategy that cannot target a budget runs at its own ratio), a ratio
  on ``full`` (it always runs on all the data), a ratio and a budget on one strategy;
* the suite ``name``, ``out`` and strategy labels as file-name components (they name
  directories under results/);
* every cell: the strategy's parameters by type and range against the strategy class
  itself (it is built on a tiny synthetic context), the model's parameters by type
  against the model class's signature (pydantic, strict) and by range (the model is
  built for a 3-node toy graph), ``split`` (three numbers summing to 1), windows that
  fit the series (``max_steps`` or the data set's ``time.steps``: at least one training
  window), ``train.device`` (a torch device; available on this machine when the grid
  runs here), ``milestones`` (strictly increasing; set by the suite: inside the schedule,
  i.e. < epochs).

Problems are deduplicated (a bad top-level value is reported once, not once per cell).
Notes that are not errors (a model YAML's milestones past a shortened schedule, a device
not available on this machine during a dry run) are returned for the dry run to print.

Extending: a new top-level key is added to ``config.SUITE_KEYS`` (accepted from then on)
and, to check its value, ``SECTION_CHECKS[key] = fn(value, path, problems)``.
"""
from __future__ import annotations

import difflib
import functools
import inspect
import itertools
import json
import re
import typing
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from stbench.benchmarks import config as C
from stbench.benchmarks.config import ConfigError

#: a file-name component: letters, digits, '.', '_', '-', '~', '@' (not starting with '.' or '-';
#: '~' names a plan-matched control, X~random, and '@' a tuning trial, X@lrx0.5)
COMPONENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._~@-]*$")


def did_you_mean(value: Any, choices: Iterable[Any]) -> str:
    """'; did you mean 'x'?' for the closest choice, or ''."""
    best = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {best[0]!r}?" if best else ""


def check_component(value: Any, what: str) -> Optional[str]:
    """None if ``value`` is a safe file-name component, else what is wrong with it."""
    s = str(value)
    if not s or not COMPONENT.match(s) or s in (".", ".."):
        return (f"{what} {value!r} is not a valid file-name component (letters, digits, '.', '_', '-', '~', '@'; "
                f"no '/', no leading '.' or '-'): it names a directory under results/")
    return None


_UNKNOWN = re.compile(r"unknown (key|parameter|strategy|model|data set|profile) '([^']+)'.*?; valid(?: keys| choices)?: "
                      r"([^;]+)(?:;|$)")


class Problems:
    """Collects one line per problem: ``FILE.PATH: message`` (deduplicated, in order)."""

    def __init__(self, file: str):
        self.file = str(file)
        self.lines: List[str] = []
        self.notes: List[str] = []

    def at(self, path: str) -> str:
        return f"{self.file}.{path}" if path else self.file

    def add(self, path: str, msg: str) -> None:
        line = f"{self.at(path)}: {msg}"
        if line not in self.lines:
            self.lines.append(line)

    def add_line(self, line: str) -> None:
        line = " ".join(str(line).split("\n"))
        m = _UNKNOWN.search(line)
        if m and "did you mean" not in line:  # config.py's messages list the valid names: add the nearest
            line += did_you_mean(m.group(2), [c.strip() for c in m.group(3).split(",")])
        if line not in self.lines:
            self.lines.append(line)

    def note(self, msg: str) -> None:
        if msg not in self.notes:
            self.notes.append(msg)

    def collect(self, fn: Callable, *args, **kw):
        """fn(*args, **kw), or None with its ConfigError recorded."""
        try:
            return fn(*args, **kw)
        except ConfigError as e:
            self.add_line(str(e))
            return None

    def raise_if_any(self) -> None:
        if not self.lines:
            return
        if len(self.lines) == 1:
            raise ConfigError(self.lines[0])
        raise ConfigError(f"{self.file}: {len(self.lines)} problems (nothing was run):\n"
                          + "\n".join(f"  {line}" for line in self.lines))


RATIOS_BESIDE_BUDGETS = ("'ratios' beside 'budgets' ({budgets}): a budget grid uses no prune ratio (a strategy "
                         "that cannot target a budget runs at its own ratio); remove one of them, or give a "
                         "strategy its own 'ratios'")

#: top-level key -> fn(value, yaml path, problems): extra checks of a suite section
SECTION_CHECKS: Dict[str, Callable[[Any, str, Problems], None]] = {}


def _unknown_keys(d: dict, valid: Sequence[str], path: str, P: Problems) -> None:
    for k in d:
        if k not in valid:
            P.add(path, f"unknown key {k!r}; valid keys: {', '.join(valid)}{did_you_mean(k, valid)}")


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


# ----------------------------------------------------------------------------- override blocks
def _check_typed(block: Any, types: Dict[str, tuple], path: str, P: Problems) -> None:
    if not isinstance(block, dict):
        P.add(path, f"expected a mapping with keys {', '.join(types)}, got {block!r}")
        return
    for k, v in block.items():
        if k not in types:
            P.add(path, f"unknown key {k!r}; valid keys: {', '.join(types)}{did_you_mean(k, types)}")
            continue
        P.collect(C._check_types, {k: v}, {k: types[k]}, P.at(path))


def _check_split(split: Any, path: str, P: Problems) -> None:
    if split is None:
        return
    ok = (isinstance(split, list) and len(split) == 3
          and all(isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0 for x in split))
    if not ok:
        P.add(path, f"expected three non-negative numbers [train, val, test], got {split!r}")
    elif abs(sum(split) - 1.0) > 1e-6:
        P.add(path, f"the three parts must sum to 1, got {split!r} (sum {sum(split):g})")


def _check_milestones(ms: Any, path: str, P: Problems) -> None:
    if not isinstance(ms, list):
        return  # the type check reports it
    if not all(isinstance(m, int) and not isinstance(m, bool) and m >= 1 for m in ms):
        P.add(path, f"train.milestones must be a list of epochs (integers >= 1), got {ms!r}")
    elif any(b <= a for a, b in zip(ms, ms[1:])):
        P.add(path, f"milestones must be strictly increasing (each epoch once), got {ms!r}; "
                    f"write {sorted(set(ms))!r}")


def _check_overrides(block: dict, path: str, P: Problems, strategies: Sequence[str], models: Sequence[str],
                     allow_profiles: bool = True) -> None:
    """train / dataset / model_params / strategy_params / profiles of one suite level."""
    if "train" in block:
        _check_typed(block["train"], C.TRAIN_TYPES, _join(path, "train"), P)
        if isinstance(block["train"], dict) and "milestones" in block["train"]:
            _check_milestones(block["train"]["milestones"], _join(path, "train.milestones"), P)
    if "dataset" in block:
        _check_typed(block["dataset"], C.DATASET_TYPES, _join(path, "dataset"), P)
        if isinstance(block["dataset"], dict) and "split" in block["dataset"]:
            _check_split(block["dataset"]["split"], _join(path, "dataset.split"), P)
    for key, names, what in (("strategy_params", strategies, "strategy"), ("model_params", models, "model")):
        if key not in block:
            continue
        sub = block[key]
        if not isinstance(sub, dict):
            P.add(_join(path, key), "expected a mapping (name -> params)")
            continue
        for name, params in sub.items():
            if str(name).lower() not in {str(n).lower() for n in names}:
                P.add(_join(path, f"{key}.{name}"),
                      f"{name!r} names no {what} of this {'block' if 'experiments[' in path else 'suite'} "
                      f"(its {what.replace('y', 'ie')}s: {', '.join(sorted(set(map(str, names)))) or '(none)'})"
                      f"{did_you_mean(name, names)}")
            elif not isinstance(params, dict):
                P.add(_join(path, f"{key}.{name}"), f"expected a mapping of parameters, got {params!r}")
    if "profiles" in block:
        profs = block["profiles"]
        if not allow_profiles or not isinstance(profs, dict):
            P.add(_join(path, "profiles"), f"expected a mapping with keys {', '.join(C.PROFILES)}")
            return
        for p, sub in profs.items():
            ppath = _join(path, f"profiles.{p}")
            if p not in C.PROFILES:
                P.add(_join(path, "profiles"), f"unknown profile {p!r}; valid: {', '.join(C.PROFILES)}"
                                               f"{did_you_mean(p, C.PROFILES)}")
                continue
            if not isinstance(sub, dict):
                P.add(ppath, "expected a mapping")
                continue
            _unknown_keys(sub, C.OVERRIDE_KEYS, ppath, P)
            _check_overrides(sub, ppath, P, strategies, models, allow_profiles=False)


# ----------------------------------------------------------------------------- strategies
def _strategy_entry(entry: Any, path: str, P: Problems) -> Optional[C.StrategySpec]:
    """One entry of a ``strategies`` list: the new rules, then config.parse_strategy."""
    if isinstance(entry, dict):
        name = str(entry.get("name", "")).lower()
        if "label" in entry:
            bad = check_component(entry["label"], "label")
            if bad:
                P.add(_join(path, "label"), bad)
                return None
        for many in ("ratios", "budgets"):
            if many in entry and entry[many] in ([], None):
                P.add(_join(path, many), f"empty list: give at least one value or remove '{many}'")
                return None
        has_ratio = "ratio" in entry or "ratios" in entry
        has_budget = "budget" in entry or "budgets" in entry
        if has_ratio and has_budget:
            P.add(path, "give a prune ratio or a compute budget, not both (a budget run plans its own "
                        "per-epoch counts and would ignore the ratio)")
            return None
        if name == "full" and has_ratio:
            r = entry.get("ratio", entry.get("ratios"))
            if r not in (0, 0.0, [0], [0.0]):
                P.add(_join(path, "ratio" if "ratio" in entry else "ratios"),
                      f"'full' trains on all the data (prune ratio 0), got {r!r}; remove it (or use "
                      f"'budgets' for a shortened schedule)")
                return None
    return P.collect(C.parse_strategy, entry, P.at(path))


# ----------------------------------------------------------------------------- per-cell checks
@functools.lru_cache(maxsize=None)
def _probe_context(n: int, epochs: int, in_steps: int, out_steps: int):
    import numpy as np

    from stbench.pruning.base import PruneContext
    rng = np.random.default_rng(0)
    values = rng.standard_normal((n + in_steps + out_steps - 1, 3)).astype(np.float32)
    return PruneContext(n=n, epochs=epochs, seed=0, values=values, starts=np.arange(n, dtype=np.int64),
                        in_steps=in_steps, out_steps=out_steps, adj=np.eye(3, dtype=np.float32))


_PARAM_MSG = re.compile(r"params\.(\w+) must be (.*)$")


@functools.lru_cache(maxsize=4096)
def _probe_strategy(name: str, params_json: str, ratio: float, budget: Optional[float], epochs: int,
                    in_steps: int, out_steps: int) -> Optional[Tuple[Optional[str], str]]:
    """(param key or None, problem) when strategy ``name`` refuses these settings, else None.

    The strategy class is built on a 48-window synthetic context, as the engine builds it."""
    from stbench.pruning.base import build_pruner
    ctx = _probe_context(48, max(1, epochs), in_steps, out_steps)
    kw = {} if budget is None or name == "full" else {"budget": budget}
    try:
        build_pruner(name, ctx, ratio=ratio, **kw, **json.loads(params_json))
    except (ValueError, TypeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        m = _PARAM_MSG.search(msg)
        if m:
            return m.group(1), f"{name}'s {m.group(1)} must be {m.group(2)}"
        if msg.startswith("pruner "):  # the strategy's own check (ParamCheck), not the toy context's
            return None, msg
        return None
    except Exception:  # noqa: BLE001 - the toy context may not suit every strategy: the run will tell
        return None
    return None


def _model_fields(cls) -> Dict[str, tuple]:
    sig = inspect.signature(cls.__init__)
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 - unresolvable annotation: check by name only
        hints = {}
    out = {}
    for pname, p in sig.parameters.items():
        if pname in ("self", "meta") or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        out[pname] = (hints.get(pname, Any), p.default if p.default is not p.empty else ...)
    return out


@functools.lru_cache(maxsize=None)
def _model_schema(name: str):
    """A strict pydantic model of model ``name``'s constructor parameters."""
    from pydantic import ConfigDict, create_model

    from stbench.models import MODELS
    cls = MODELS.get(name)
    return create_model(f"{cls.__name__}Params", __config__=ConfigDict(strict=True, extra="forbid"),
                        **_model_fields(cls))


_PYDANTIC_EXPECTED = {"int_type": "an integer", "float_type": "a number", "bool_type": "true or false",
                      "string_type": "a string", "int_from_float": "an integer", "list_type": "a list",
                      "dict_type": "a mapping", "extra_forbidden": "no such parameter"}


@functools.lru_cache(maxsize=1024)
def _check_model_params(name: str, params_json: str, in_steps: int, out_steps: int) -> Tuple[Tuple[Optional[str], str], ...]:
    """((param or None, problem), ...) of model ``name`` with these parameters."""
    from pydantic import ValidationError
    params = json.loads(params_json)
    try:
        _model_schema(name).model_validate(params)
    except ValidationError as e:
        out = []
        for err in e.errors():
            key = str(err["loc"][0]) if err["loc"] else None
            want = _PYDANTIC_EXPECTED.get(err["type"], err["msg"].lower())
            out.append((key, f"{name}'s {key} must be {want}, got {err.get('input')!r}"))
        return tuple(out)
    except Exception:  # noqa: BLE001 - no schema for this class: the build below still checks
        pass
    import numpy as np

    from stbench.datasets.base import DatasetMeta
    from stbench.models import build_model
    meta = DatasetMeta(name="probe", num_nodes=3, steps_per_day=288, adj=np.eye(3, dtype=np.float32),
                       in_steps=in_steps, out_steps=out_steps)
    try:
        build_model(name, meta, **params)
    except (ValueError, TypeError) as e:
        msg = str(e).splitlines()[0]
        key = next((k for k in params if re.search(rf"\b{re.escape(k)}\b", msg)), None)
        got = msg.rsplit("got ", 1)[-1] if "got " in msg else None
        if key is None and got is not None:  # e.g. "dropout probability must be in [0, 1), got 1.5"
            key = next((k for k, v in params.items() if not isinstance(v, (dict, list)) and str(v) == got), None)
        msg = msg if msg.startswith(f"{name}:") else f"{name}: {msg}"
        return ((key, msg),) if key is not None else ()  # else the toy graph's problem: the run will tell
    except Exception:  # noqa: BLE001 - a toy graph may not suit every model: the run will tell
        pass
    return ()


def _device_problem(device: str, mode: str) -> Optional[str]:
    import torch
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        return f"{device!r} is not a torch device; expected cpu, cuda or cuda:N (e.g. cuda:0)"
    if mode == "off" or dev.type == "cpu":
        return None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU build of torch" if torch.version.cuda is None else "no visible CUDA device"
            return (f"{device!r} is not available here ({build}, torch {torch.__version__}); use device: cpu, "
                    f"or run the grid where a GPU is (--launcher submitit)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            return f"{device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            return f"{device!r} is not available here (no Apple MPS backend)"
    return None


@functools.lru_cache(maxsize=None)
def _dataset_steps(name: str) -> Tuple[Optional[int], Optional[list], bool]:
    """(time steps when the YAML records them, its split, whether the files give explicit
    windows: LargeST's idx files, used unless ``max_steps`` cuts the series) without loading data."""
    try:
        from stbench.datasets import dataset_spec
        spec = dataset_spec(name)
    except Exception:  # noqa: BLE001 - the data-set check reports it
        return None, None, False
    steps = (spec.get("time") or {}).get("steps")
    return (int(steps) if isinstance(steps, int) else None), spec.get("split"), spec.get("format") == "largest_npz"


def _windows_problem(ds: dict) -> Optional[str]:
    from stbench.datasets.protocol import split_counts
    steps, spec_split, explicit = _dataset_steps(ds["name"])
    known = [s for s in (ds.get("max_steps"), steps) if s is not None]
    if not known:
        return None
    T = min(known)
    span = ds["in_steps"] + ds["out_steps"]
    n = T - span + 1
    src = "dataset.max_steps" if ds.get("max_steps") == T else f"the data set's {T} time steps"
    if n < 1:
        return (f"{src} = {T} is shorter than one window ({ds['in_steps']} in + {ds['out_steps']} out = "
                f"{span} steps)")
    split = ds.get("split") or spec_split
    if (explicit and ds.get("max_steps") is None) or not split:
        return None
    try:
        n_train, n_val, n_test = split_counts(n, split)
    except Exception:  # noqa: BLE001 - the split check reports it
        return None
    if n_train < 1 or (split[1] > 0 and n_val < 1) or (split[2] > 0 and n_test < 1):
        return (f"{src} = {T} gives {n} window(s) of {span} steps: {n_train} train / {n_val} val / "
                f"{n_test} test with split {list(split)}; every part needs at least one")
    return None


class _Layers:
    """Where a resolved value came from: the highest layer that sets it (a YAML path)."""

    def __init__(self, layers: List[Tuple[str, dict]]):
        self.layers = layers  # (yaml path, override block), low to high

    def origin(self, section: str, key: str, name: Optional[str] = None) -> Optional[str]:
        for path, block in reversed(self.layers):
            sub = block.get(section) if isinstance(block, dict) else None
            if name is not None:
                sub = None if not isinstance(sub, dict) else next(
                    (v for k, v in sub.items() if str(k).lower() == name.lower()), None)
            if isinstance(sub, dict) and key in sub:
                return _join(path, f"{section}.{name}.{key}" if name else f"{section}.{key}")
        return None


def _check_cell(cfg: dict, st_path: str, entry_keys: set, layers: _Layers, P: Problems,
                devices: str) -> None:
    """The checks of one resolved cell (``entry_keys``: the params its strategies entry sets)."""
    from stbench.benchmarks.engine import run_schedule
    from stbench.pruning.schedule import merged_note
    train, ds, model = cfg["train"], cfg["dataset"], cfg["model"]
    s = cfg["strategy"]
    epochs = run_schedule(cfg)[0]
    if s["name"] == "full" and s.get("budget") is not None and train["milestones"]:
        note = merged_note(train["milestones"], int(train["epochs"]), int(epochs), float(s["budget"]))
        if note:  # the documented rule of pruning/schedule.py, printed, never silent
            P.note(f"{st_path}: {ds['name']} / {model['name']}: {note}")
    # strategy parameters against the class
    res = _probe_strategy(s["name"], C.canonical_json(s["params"]), float(s["ratio"]), s.get("budget"),
                          int(epochs), int(ds["in_steps"]), int(ds["out_steps"]))
    if res is not None:
        key, msg = res
        if key is None:
            path = st_path
        else:
            path = (layers.origin("strategy_params", key, s["label"]) or layers.origin("strategy_params", key, s["name"])
                    or (_join(st_path, f"params.{key}") if key in entry_keys else None))
            if path is None:
                P.add_line(f"{C.CONFIGS / 'pruners' / (s['name'] + '.yaml')}: params.{key}: {msg} "
                           f"(used by {P.at(st_path)})")
                path = ""
        if path != "":
            P.add(path, msg)
    # model parameters against the class
    for key, msg in _check_model_params(model["name"], C.canonical_json(model["params"]), int(ds["in_steps"]),
                                        int(ds["out_steps"])):
        path = layers.origin("model_params", key, model["name"]) if key else None
        if path:
            P.add(path, msg)
        else:
            P.add_line(f"{C.CONFIGS / 'models' / (model['name'] + '.yaml')}: {msg} "
                       f"(model {model['name']} on {ds['name']}, profile {cfg['profile']})")
    # device
    dev_problem = _device_problem(str(train["device"]), "off" if devices == "off" else "on")
    if dev_problem:
        path = layers.origin("train", "device") or "train.device"
        if devices == "error" or "not a torch device" in dev_problem:
            P.add(path, dev_problem)
        else:
            P.note(f"{P.at(path)}: {dev_problem} (a run here would stop before its first cell)")
    # split and windows
    if ds.get("split") is not None:
        _check_split(ds["split"], layers.origin("dataset", "split") or "dataset.split", P)
    win = _windows_problem(ds)
    if win:
        path = layers.origin("dataset", "max_steps") if "max_steps" in win else None
        P.add(path or layers.origin("dataset", "in_steps") or f"datasets ({ds['name']})", win)
    # milestones
    ms = train["milestones"] or []
    mpath = layers.origin("train", "milestones")
    if isinstance(ms, list) and all(isinstance(m, int) and not isinstance(m, bool) for m in ms):
        if mpath is None and any(b <= a for a, b in zip(ms, ms[1:])):
            P.add_line(f"{C.CONFIGS / 'models' / (model['name'] + '.yaml')}: train.milestones must be strictly "
                       f"increasing, got {ms!r}")
        late = [m for m in ms if m >= train["epochs"]]
        if late and mpath is not None:
            src = layers.origin("train", "epochs")
            P.add(mpath, f"milestone(s) {late} are not inside the schedule of {train['epochs']} epoch(s) "
                         f"({'set at ' + src if src else 'train.epochs of the profile / model YAML'}): "
                         f"a milestone m takes effect after epoch m, so it must be < epochs")
        elif late:
            P.note(f"{model['name']}: the model YAML's lr milestones {late} lie past the {train['epochs']} epochs "
                   f"of {ds['name']} / profile {cfg['profile']} and never apply (set train.milestones to change)")


# ----------------------------------------------------------------------------- the suite
def validate_suite(path, suite: dict, profile: Optional[str] = None, seeds: Optional[Iterable] = None,
                   devices: str = "note") -> List[str]:
    """Check the whole suite; raise one ConfigError listing every problem, else return notes.

    ``devices``: 'error' (the grid runs on this machine: an unavailable device is an error),
    'note' (a dry run: it is a note) or 'off' (the cells run elsewhere, e.g. SLURM jobs)."""
    P = Problems(str(path))
    _unknown_keys(suite, C.SUITE_KEYS, "", P)
    for key, fn in SECTION_CHECKS.items():
        if key in suite:
            fn(suite[key], key, P)
    if "name" in suite:
        bad = check_component(suite["name"], "suite name")
        if bad:
            P.add("name", bad)
    if suite.get("out") is not None:
        out = Path(str(suite["out"]))
        if out.is_absolute() or any(part in ("..", "") for part in str(suite["out"]).split("/")):
            P.add("out", f"expected a directory name under results/ (no '..', not absolute), got {suite['out']!r}")
    if "launcher" in suite:
        P.collect(C.check_launcher, suite.get("launcher"), P.at("launcher"))
    prof = profile or suite.get("profile") or "cpu"
    if prof not in C.PROFILES:
        P.add("profile", f"profile {prof!r} unknown; valid: {', '.join(C.PROFILES)}{did_you_mean(prof, C.PROFILES)}")
        P.raise_if_any()
    seed_list = None
    if seeds is not None:
        seed_list = list(seeds)
        bad = [s for s in seed_list if not isinstance(s, int) or isinstance(s, bool) or s < 0]
        if bad:
            P.add_line(f"--seeds: seeds must be integers >= 0, got {bad[0]!r}")
    blocks = suite.get("experiments")
    if "experiments" in suite and (not isinstance(blocks, list) or not blocks):
        P.add("experiments", "expected a non-empty list of mappings (or leave the key out)")
        P.raise_if_any()
    blocks = blocks or [{}]
    has_blocks = bool(suite.get("experiments"))
    # the strategy labels / names and models of the suite, for strategy_params / model_params keys
    all_strats, all_models = set(), set()
    block_names: List[Tuple[set, set]] = []
    for block in blocks:
        b = block if isinstance(block, dict) else {}
        names, mods = set(), set()
        raw = b.get("strategies", suite.get("strategies"))
        for e in raw if isinstance(raw, list) else [raw] if raw else []:
            if isinstance(e, str):
                names.add(e.lower())
            elif isinstance(e, dict):
                names.update(str(x).lower() for x in (e.get("label"), e.get("name")) if x)
        m = b.get("models", suite.get("models"))
        mods.update(str(x).lower() for x in (m if isinstance(m, list) else [m] if m else []))
        block_names.append((names, mods))
        all_strats |= names
        all_models |= mods
    _check_overrides(suite, "", P, sorted(all_strats), sorted(all_models))
    ratios_used = False
    suite_ratios_unused: List[str] = []
    for bi, block in enumerate(blocks):
        bpath = f"experiments[{bi}]" if has_blocks else ""
        if not isinstance(block, dict):
            P.add(bpath, f"expected a mapping, got {block!r}")
            continue
        if has_blocks:
            _unknown_keys(block, C.BLOCK_KEYS, bpath, P)
            _check_overrides(block, bpath, P, sorted(block_names[bi][0]), sorted(block_names[bi][1]))
        axes = {k: block.get(k, suite.get(k)) for k in C.AXIS_KEYS}
        apath = {k: _join(bpath, k) if k in block else k for k in C.AXIS_KEYS}
        for k in ("datasets", "models", "strategies"):
            if not axes[k]:
                P.add(bpath, f"missing or empty '{k}'")
        for k in ("ratios", "budgets", "seeds"):
            if axes[k] is not None and axes[k] == []:
                P.add(apath[k], f"empty list: give at least one value or remove '{k}'"
                                + (" (a grid with no cells runs nothing)" if k != "ratios" else
                                   " (every pruning strategy would drop out of the grid)"))
        if axes["ratios"] is not None and axes["budgets"] is not None:
            if "ratios" in block and has_blocks:
                P.add(apath["ratios"], RATIOS_BESIDE_BUDGETS.format(budgets=apath["budgets"]))
            else:
                suite_ratios_unused.append(apath["budgets"])
        elif axes["ratios"] is not None and "ratios" not in block:
            ratios_used = True
        if any(not axes[k] for k in ("datasets", "models", "strategies")):
            continue
        dsets = [P.collect(C._canonical_dataset, d, P.at(apath["datasets"]))
                 for d in C._as_list(axes["datasets"], "datasets", P.at(bpath))]
        mods = [P.collect(C._check_model, m, P.at(apath["models"]))
                for m in C._as_list(axes["models"], "models", P.at(bpath))]
        strats, st_paths, entry_keys = [], [], {}
        for i, entry in enumerate(C._as_list(axes["strategies"], "strategies", P.at(bpath))):
            sp = f"{apath['strategies']}[{i}]"
            if isinstance(entry, dict) and isinstance(entry.get("params"), dict):
                entry_keys[sp] = set(entry["params"])
            spec = _strategy_entry(entry, sp, P)  # (a label names directories: checked there)
            strats.append(spec)
            st_paths.append(sp)
        labels = [s.label for s in strats if s is not None]
        if len(set(labels)) != len(labels):
            P.add(apath["strategies"], f"labels must be unique, got {labels}")
        ratios = P.collect(C.check_ratios, C._as_list(axes["ratios"] if axes["ratios"] is not None else [0.5],
                                                      "ratios", P.at(bpath)), P.at(bpath)) if axes["ratios"] != [] else []
        budgets = None
        if axes["budgets"] is not None:
            budgets = P.collect(C.check_budgets, C._as_list(axes["budgets"], "budgets", P.at(bpath)), P.at(bpath))
        if seed_list is not None:
            run_seeds = seed_list
        else:
            run_seeds = C._as_list(axes["seeds"] if axes["seeds"] is not None else [0], "seeds", P.at(bpath))
            bad = [s for s in run_seeds if not isinstance(s, int) or isinstance(s, bool) or s < 0]
            if bad:
                P.add(apath["seeds"], f"seeds must be integers >= 0, got {bad[0]!r}")
        if ratios is None or (axes["budgets"] is not None and budgets is None):
            continue  # the cells of the valid data sets, models and strategies are checked
        for st, sp in zip(strats, st_paths):  # the documented rule the dry run prints
            if st is not None and budgets is not None and st.budgets is None and st.ratios is None and st.budget_mode == "native":
                P.note(f"{P.at(sp)}: {st.label} cannot target a budget in its published form: it runs once "
                       f"at its own prune ratio {st.native_ratio:g} and the report places it by its measured "
                       f"passes (params.budgeted: true runs it at the budgets)")
        layers = _Layers([("", suite), (f"profiles.{prof}", (suite.get("profiles") or {}).get(prof) or {})]
                         + ([(bpath, block), (f"{bpath}.profiles.{prof}", (block.get("profiles") or {}).get(prof) or {})]
                            if has_blocks else []))
        overrides = [C._overrides(suite, prof), C._overrides(block, prof)]
        seeds_ok = [s for s in run_seeds if isinstance(s, int) and not isinstance(s, bool) and s >= 0][:1]
        valid_strats = [(st, sp) for st, sp in zip(strats, st_paths) if st is not None]
        for d, m, (st, sp) in itertools.product([d for d in dsets if d], [m for m in mods if m], valid_strats):
            for r, b in C.grid_points(st, ratios, budgets):
                for s in seeds_ok:  # the seed changes no check: one cell per (d, m, st, r, b)
                    cfg = P.collect(C.resolve_run, d, m, st, r, s, prof, overrides, P.at(bpath), budget=b)
                    if cfg is not None:
                        _check_cell(cfg, sp, entry_keys.get(sp, set()), layers, P, devices)
    if suite.get("ratios") is not None and suite_ratios_unused and not ratios_used:
        P.add("ratios", RATIOS_BESIDE_BUDGETS.format(budgets=", ".join(dict.fromkeys(suite_ratios_unused))))
    P.raise_if_any()
    return P.notes
