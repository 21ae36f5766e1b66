"""Suite files -> validated, fully resolved run configs.

A suite YAML lists grid axes and overrides::

    name: quick                  # results go to results/<name> unless --out
    profile: smoke               # smoke | cpu | paper (CLI --profile wins)
    datasets: [SYNTHETIC]
    models: [stid, gwnet]
    strategies: [full, random, {label: stprune-nocx, name: stprune, params: {use_complexity: false}}]
    ratios: [0.5]                # prune ratios for every strategy but full (ratio 0)
    budgets: [1, 0.5, 0.25]      # or: compute budgets (fraction of the full run's sample passes)
    seeds: [0, 1, 2]
    train: {epochs: 10}          # overrides, deep-merged (also: dataset, model_params)
    profiles: {cpu: {train: {epochs: 40}}}
    experiments:                 # optional sub-grids; each block overrides the axes above
      - {name: main, strategies: [full, infobatch]}
    launcher: {partition: gpu, time_min: 120, gpus_per_job: 1}   # how to run it (docs/scaling.md)
    tuning: {lr_mult: [0.5, 1, 2]}  # optional: every setting (the control too) runs every trial

Tuning (``tuning:``, :func:`tuning_trials`): the trials are the Cartesian product of the
listed values; each cell runs once per trial. A trial is recorded in ``strategy.tuning``
(``lr_mult``: train.lr times it, applied by the engine) and in the label, ``<label>@lrx<v>``;
the trial whose values are all 1 is the untuned run itself (same config, label and id as
without tuning). The workload (data, model, train) is the same for every trial, so the
report compares them in one table and picks each setting's trial on validation
(benchmarks/report_attribution.py). Without ``tuning:`` nothing changes.

Precedence of a run's settings, low to high: engine defaults < model YAML `train`
< model YAML per data set < model YAML per profile < configs/profiles/<profile>.yaml
< suite top level < suite `profiles[profile]` < experiment block (and its `profiles`).

Budgets (docs/budgets.md): with ``budgets:`` a strategy runs at each budget b in (0, 1],
spending at most b * E * n sample passes. How depends on the strategy's
``budget_mode``: ``schedule`` (full: round(b E) epochs, lr milestones scaled),
``exact`` (the pruner keeps the counts that spend the budget) or ``native`` (a soft
selector in its published form cannot target a budget: it runs at its own prune
ratio, once, and the report places it by its measured passes). A strategy's own
``budget``/``budgets`` (or ``ratio``/``ratios``) overrides the grid's axes.

A run's identity is the sha256 of its canonical resolved config (data root and
output paths excluded; keys added after the first release are left out while they
hold their neutral default, see IDENTITY_NEUTRAL, so committed runs keep their ids)
together with the data set's identity (its resolved spec and the sha256 of every
file it reads, datasets.identity); its directory is named
``<dataset>_<model>_<strategy>_r<ratio>_s<seed>_<hash8>`` (``_b<budget>`` for a
budget run).
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
PROFILES = ("smoke", "cpu", "paper")


class ConfigError(ValueError):
    """A suite/config file is invalid; the message names the file, the key and the choices."""


TRAIN_DEFAULTS: Dict[str, Any] = {
    "epochs": 30,
    "batch_size": 64,
    "eval_batch_size": 256,
    "optimizer": "adam",
    "lr": 1e-3,
    "weight_decay": 0.0,
    "momentum": 0.9,
    "milestones": [],
    "gamma": 0.5,
    "clip": 5.0,
    "threads": 0,
    "device": "cpu",
    "loss": "sample_mean",
    "nesterov": False,               # sgd: Nesterov momentum
    "muon_params": "2d",             # muon: which parameters Muon trains (benchmarks/optimizers.py)
    "muon_momentum": 0.95,           # muon: Muon's momentum (AdamW keeps its betas)
    "muon_adjust_lr": "match_rms_adamw",  # muon: lr scaling per matrix shape (match_rms_adamw | original)
    "equal_steps": False,            # budget runs: plan k_e so a run takes the control's optimizer steps
    "pass_grid": None,               # validation every pass_grid * n sample passes (passgrid.csv); null: off
}
#: training losses (engine.LOSSES): ``sample_mean`` = mean_i w_i l_i of the per-sample masked
#: MAEs l_i; ``pooled`` = sum_i w_i S_i / sum_i c_i (BasicTS' masked MAE: S_i the sum of
#: absolute errors of sample i, c_i its count of valid entries)
LOSSES = ("sample_mean", "pooled")
DATASET_DEFAULTS: Dict[str, Any] = {
    "in_steps": 12,
    "out_steps": 12,
    "split": None,
    "max_steps": None,
    "scaler_ignore_null": False,
    "mape_min_target": 0.0,
    "train_fraction": 1.0,   # data-scale experiments: train on the last part of the training windows
}

# key -> accepted python types (None allowed where listed)
TRAIN_TYPES = {
    "epochs": (int,), "batch_size": (int,), "eval_batch_size": (int,), "optimizer": (str,),
    "lr": (float, int), "weight_decay": (float, int), "momentum": (float, int),
    "milestones": (list,), "gamma": (float, int), "clip": (float, int, type(None)),
    "threads": (int,), "device": (str,), "loss": (str,), "nesterov": (bool,), "muon_params": (str,),
    "muon_momentum": (float, int), "muon_adjust_lr": (str,),
    "equal_steps": (bool,), "pass_grid": (float, int, type(None)),
}
DATASET_TYPES = {
    "in_steps": (int,), "out_steps": (int,), "split": (list, type(None)),
    "max_steps": (int, type(None)), "scaler_ignore_null": (bool,), "mape_min_target": (float, int),
    "train_fraction": (float, int),
}
OVERRIDE_KEYS = ("train", "dataset", "model_params", "strategy_params")
AXIS_KEYS = ("datasets", "models", "strategies", "ratios", "budgets", "seeds", "tuning")
SUITE_KEYS = (("name", "description", "profile", "out", "experiments", "profiles", "launcher", "report")
              + AXIS_KEYS + OVERRIDE_KEYS)
BLOCK_KEYS = ("name", "description", "profiles") + AXIS_KEYS + OVERRIDE_KEYS
STRATEGY_KEYS = ("name", "label", "ratio", "ratios", "budget", "budgets", "params")
#: config keys added after runs were first committed, with the value that reproduces the
#: behaviour before them: left out of the identity while they hold it (so old ids stay valid)
IDENTITY_NEUTRAL = {("train", "loss"): "sample_mean", ("strategy", "params", "budgeted"): False,
                    ("dataset", "mape_min_target"): 0.0, ("dataset", "train_fraction"): 1.0,
                    ("train", "nesterov"): False, ("train", "muon_params"): "2d",
                    ("train", "muon_momentum"): 0.95, ("train", "muon_adjust_lr"): "match_rms_adamw",
                    # STGCN's LayerNorm eps before the key existed (torch's default); the model
                    # YAML now gives hazdzz/STGCN's 1e-12, so new runs get new ids
                    ("model", "params", "layernorm_eps"): 1e-5,
                    # issue 26: budgeted selectors (weights, ST-Prune's rule and tilt, the
                    # plan-matched random control), step-matched plans, the pass grid
                    ("strategy", "params", "weights"): "unbiased",
                    ("strategy", "params", "budget_rule"): "pool", ("strategy", "params", "tilt"): 3.0,
                    ("strategy", "params", "selection"): "score", ("train", "equal_steps"): False,
                    ("train", "pass_grid"): None}
#: strategy params that only a budgeted form (params.budgeted: true) reads: left out of the
#: identity of a run in the published form (params.budgeted: false), which ignores them
BUDGETED_ONLY_PARAMS = ("weights", "budget_rule")


# The suite's optional ``launcher:`` block: how the grid is run (not part of any run's
# identity). CLI flags (run --help) override it. See docs/scaling.md.
LAUNCHER_DEFAULTS: Dict[str, Any] = {
    # --launcher local
    "workers": None,          # worker processes (None: one, sequential = the default behaviour)
    "gpus": None,             # "all" or a list of GPU ids: one worker per GPU (CUDA_VISIBLE_DEVICES)
    "isolate": False,         # each cell in a fresh process (no process state inherited from earlier runs)
    # --launcher submitit: one job per pending cell, as a SLURM job array
    "cluster": "slurm",       # slurm | local (subprocesses, for tests) | debug (in-process)
    "partition": None,
    "time_min": 60,           # per job
    "gpus_per_job": 0,
    "cpus_per_job": 4,
    "tasks_per_job": 1,       # > 1: one run on several processes (DDP), one task per GPU
    "mem_gb": None,
    "array_parallelism": 32,  # jobs of the array running at once
    "account": None,
    "qos": None,
    "constraint": None,
    "job_name": None,         # default stbench-<suite name>
    "setup": [],              # shell lines run before each job (module load ..., source venv)
    "slurm_extra": {},        # more sbatch options, e.g. {exclusive: true, reservation: x}
}
LAUNCHER_TYPES = {
    "workers": (int, type(None)), "gpus": (list, str, type(None)), "isolate": (bool,), "cluster": (str,),
    "partition": (str, type(None)), "time_min": (int,), "gpus_per_job": (int,), "cpus_per_job": (int,),
    "tasks_per_job": (int,), "mem_gb": (int, float, type(None)), "array_parallelism": (int,),
    "account": (str, type(None)), "qos": (str, type(None)), "constraint": (str, type(None)),
    "job_name": (str, type(None)), "setup": (list,), "slurm_extra": (dict,),
}
CLUSTERS = ("slurm", "local", "debug")
_LAUNCHER_MIN = {"workers": 1, "time_min": 1, "gpus_per_job": 0, "cpus_per_job": 1, "tasks_per_job": 1,
                 "array_parallelism": 1}


def check_launcher(block: Optional[dict], where: str) -> dict:
    """Validate a ``launcher:`` mapping (or CLI overrides) and fill in LAUNCHER_DEFAULTS."""
    if block is None:
        block = {}
    if not isinstance(block, dict):
        raise ConfigError(f"{where}: expected a mapping with keys {', '.join(LAUNCHER_TYPES)}")
    _check_types(block, LAUNCHER_TYPES, where)
    out = deep_merge(LAUNCHER_DEFAULTS, block)
    if out["cluster"] not in CLUSTERS:
        raise ConfigError(f"{where}.cluster: unknown cluster {out['cluster']!r}; "
                          f"valid choices: {', '.join(CLUSTERS)}")
    for k, lo in _LAUNCHER_MIN.items():
        if out[k] is not None and out[k] < lo:
            raise ConfigError(f"{where}.{k}: must be >= {lo}, got {out[k]}")
    gpus = out["gpus"]
    if isinstance(gpus, str) and gpus != "all":
        raise ConfigError(f"{where}.gpus: expected 'all' or a list of GPU ids, got {gpus!r}")
    if isinstance(gpus, list) and not all(isinstance(g, (int, str)) and not isinstance(g, bool) for g in gpus):
        raise ConfigError(f"{where}.gpus: GPU ids must be integers or strings, got {gpus!r}")
    if not all(isinstance(x, str) for x in out["setup"]):
        raise ConfigError(f"{where}.setup: expected a list of shell lines (strings), got {out['setup']!r}")
    return out


def deep_merge(base: dict, over: Optional[dict]) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_yaml(path: Path) -> dict:
    """A YAML mapping; a duplicate key, invalid YAML or a missing file is a ConfigError
    naming the file (and the line)."""
    from stbench.yamlio import YamlError, load_yaml_strict
    try:
        return load_yaml_strict(Path(path))
    except YamlError as e:
        raise ConfigError(str(e)) from None


def _check_keys(d: dict, valid: Sequence[str], where: str) -> None:
    for k in d:
        if k not in valid:
            raise ConfigError(f"{where}: unknown key {k!r}; valid keys: {', '.join(valid)}")


def _check_types(d: dict, types: Dict[str, tuple], where: str) -> None:
    _check_keys(d, list(types), where)
    for k, v in d.items():
        ok = types[k]
        if isinstance(v, bool) and bool not in ok:
            ok_bool = False
        else:
            ok_bool = isinstance(v, ok)
        if not ok_bool:
            names = " or ".join("null" if t is type(None) else t.__name__ for t in ok)
            raise ConfigError(f"{where}.{k}: expected {names}, got {v!r} ({type(v).__name__})")


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def identity_view(cfg: dict) -> dict:
    """``cfg`` without the IDENTITY_NEUTRAL keys that hold their neutral value (and, for a
    strategy in its published form, without its BUDGETED_ONLY_PARAMS)."""
    out = copy.deepcopy(cfg)
    sparams = (out.get("strategy") or {}).get("params")
    if isinstance(sparams, dict) and sparams.get("budgeted") is False:
        for k in BUDGETED_ONLY_PARAMS:
            sparams.pop(k, None)
    for path, neutral in IDENTITY_NEUTRAL.items():
        node = out
        for k in path[:-1]:
            node = node.get(k) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict) and path[-1] in node and node[path[-1]] == neutral:
            del node[path[-1]]
    return out


def config_hash(cfg: dict) -> str:
    """sha256 of the canonical config (IDENTITY_NEUTRAL keys at their neutral value left out)."""
    return hashlib.sha256(canonical_json(identity_view(cfg)).encode()).hexdigest()


def workload_signature(cfg: dict) -> str:
    """8 hex digits naming a run's workload: its data set, model and training settings
    (equal for every strategy and budget of one workload; the seed is not part of it)."""
    view = identity_view({k: cfg[k] for k in ("dataset", "model", "train", "profile") if k in cfg})
    return hashlib.sha256(canonical_json(view).encode()).hexdigest()[:8]


@dataclass
class StrategySpec:
    label: str
    name: str
    params: dict
    ratios: Optional[List[float]]  # None: use the grid's ratios
    budgets: Optional[List[float]] = None  # None: use the grid's budgets (if any)
    budget_mode: str = "native"    # schedule | exact | native (pruning.base.Pruner.budget_mode)
    native_ratio: float = 0.0      # the ratio a native strategy runs at in a budget grid


@dataclass
class RunSpec:
    """One cell of the grid with its resolved config and the identity of its data.

    ``hash`` covers the config and the data (spec + file sha256s); ``config_hash`` the
    config alone, which is how runs made before data identities were named
    (``legacy_run_id``; benchmarks.store finds them through their identity.json).
    """

    config: dict
    experiment: str
    data_identity: Optional[dict] = None  # datasets.identity.dataset_identity(...)
    data_error: Optional[str] = None      # why the data identity could not be computed
    plugin_paths: tuple = ()              # sys.path entries for an outside strategy (workers)

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)

    @property
    def hash(self) -> str:
        if self.data_identity is None:
            return self.config_hash
        from stbench.datasets.identity import identity_digest
        body = {"config": identity_view(self.config), "data": identity_digest(self.data_identity)}
        return hashlib.sha256(canonical_json(body).encode()).hexdigest()

    def _name(self, digest: str) -> str:
        c = self.config
        st = c["strategy"]
        point = f"b{st['budget']:.3f}" if st.get("budget") is not None else f"r{st['ratio']:.2f}"
        model = c["model"]["name"].rsplit(":", 1)[-1].lower()  # an import path: its class name
        return f"{c['dataset']['name']}_{model}_{st['label']}_{point}_s{c['seed']}_{digest[:8]}"

    @property
    def run_id(self) -> str:
        return self._name(self.hash)

    @property
    def legacy_run_id(self) -> str:
        return self._name(self.config_hash)

    def key(self) -> dict:
        c = self.config
        return {"dataset": c["dataset"]["name"], "model": c["model"]["name"],
                "strategy": c["strategy"]["label"], "pruner": c["strategy"]["name"],
                "ratio": c["strategy"]["ratio"], "budget": c["strategy"].get("budget"),
                "seed": c["seed"], "profile": c["profile"], "experiment": self.experiment,
                "optimizer": c["train"]["optimizer"]}


# ----------------------------------------------------------------------------- registries

def _known_datasets() -> List[str]:
    from stbench.datasets import dataset_names
    return dataset_names()


def _canonical_dataset(name: str, where: str) -> str:
    names = _known_datasets()
    for n in names:
        if n.lower() == str(name).lower():
            return n
    from stbench.datasets import dataset_spec
    try:  # the registry's own message: broken YAMLs with their reason, how to register more
        dataset_spec(name)
    except Exception as e:  # noqa: BLE001 - SpecError / UnknownDataset
        raise ConfigError(f"{where}: {e}") from None
    raise ConfigError(f"{where}: unknown data set {name!r}; valid choices: {', '.join(names)}")


def _check_model(name: str, where: str) -> str:
    """A registered model (lower-cased), an import path ``module:Class`` (as given) or an
    installed entry point (group ``stbench.models``)."""
    from stbench.models import model_class
    try:
        model_class(str(name))
    except KeyError as e:
        raise ConfigError(f"{where}: {e.args[0] if e.args else e}") from None
    return strategy_name(name)


def strategy_class(name: str, where: str = "") -> type:
    """The class of strategy ``name`` (registered, import path or entry point), or a ConfigError."""
    from stbench.pruning.base import pruner_class
    try:
        return pruner_class(name)
    except KeyError as e:
        raise ConfigError(f"{where}: {e.args[0] if e.args else e}") from None


def pruner_defaults(name: str, where: str = "") -> dict:
    """{name, ratio, params}: the class's defaults (``Pruner.defaults()``: the default of
    ``ratio`` and its keyword-only arguments), or the strategy's YAML
    (configs/pruners/NAME.yaml) where one exists."""
    cls = strategy_class(name, where)
    path = CONFIGS / "pruners" / f"{str(name).lower()}.yaml"
    if path.exists() and not _is_outside(name):
        data = load_yaml(path)
    else:
        data = {"name": name, **cls.defaults()}
    data.setdefault("params", {})
    return data


def _is_outside(name: str) -> bool:
    """True for a strategy loaded from an import path or an entry point (stbench.plugins)."""
    from stbench import plugins
    from stbench.pruning.base import ENTRY_POINT_GROUP
    return plugins.info(name, ENTRY_POINT_GROUP) is not None


def _type_ok(v: Any, t: Any) -> bool:
    """Does value ``v`` (from YAML) fit annotation ``t``? (unknown annotations: yes)"""
    import typing
    if t is Any or t is None:
        return t is Any or v is None
    origin = typing.get_origin(t)
    if origin is typing.Union or str(origin) == "types.UnionType" or type(t).__name__ == "UnionType":
        return any(_type_ok(v, a) for a in typing.get_args(t))
    if origin is typing.Literal:
        return v in typing.get_args(t)
    if origin is not None:
        t = origin
    if t is type(None):
        return v is None
    if t is float:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t is int:
        return isinstance(v, int) and not isinstance(v, bool)
    if t in (list, tuple, typing.Sequence):
        return isinstance(v, (list, tuple))
    return isinstance(v, t) if isinstance(t, type) else True


def check_outside_params(cls: type, params: dict, where: str) -> None:
    """An outside strategy's suite ``params`` against its keyword-only arguments' annotations
    (or, unannotated, the type of their defaults): the error names the key, the expected type
    and the value."""
    import typing
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to the defaults' types
        hints = {}
    defaults = cls.defaults()["params"]
    for k, v in params.items():
        t = hints.get(k)
        if t is None:
            d = defaults.get(k)
            if d is None:
                continue
            t = float if isinstance(d, float) else type(d)
        if not _type_ok(v, t):
            want = getattr(t, "__name__", None) or str(t).replace("typing.", "")
            raise ConfigError(f"{where}.params.{k}: expected {want}, got {v!r} ({type(v).__name__})")


# ----------------------------------------------------------------------------- parsing

def _as_list(v: Any, key: str, where: str) -> list:
    if v is None:
        return []
    if isinstance(v, (str, int, float, dict)):
        v = [v]
    if not isinstance(v, list):
        raise ConfigError(f"{where}.{key}: expected a list, got {v!r}")
    return v


def _number_list(values: list, key: str, where: str, lo: float, hi: float, lo_open: bool,
                 hi_open: bool, what: str) -> List[float]:
    """Each value a real number in the interval; the error names the key and the value."""
    out = []
    lb, hb = "(" if lo_open else "[", ")" if hi_open else "]"
    for v in values:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))
        if ok:
            f = float(v)
            ok = (f > lo if lo_open else f >= lo) and (f < hi if hi_open else f <= hi)
        if not ok:
            raise ConfigError(f"{where}.{key}: {what} must be in {lb}{lo:g}, {hi:g}{hb} (a number), got {v!r}")
        out.append(float(v))
    return out


def check_ratios(values: list, where: str, key: str = "ratios") -> List[float]:
    """Prune ratios: numbers in [0, 1)."""
    return _number_list(values, key, where, 0.0, 1.0, False, True, "prune ratio")


def check_budgets(values: list, where: str, key: str = "budgets") -> List[float]:
    """Compute budgets: numbers in (0, 1] (fractions of the full-data run's sample passes)."""
    return _number_list(values, key, where, 0.0, 1.0, True, False, "budget")


def strategy_budget_mode(name: str, params: dict) -> str:
    """``schedule`` | ``exact`` | ``native``: how strategy ``name`` with ``params`` meets a budget."""
    cls = strategy_class(name)
    mode = getattr(cls, "budget_mode", None)
    return mode(params) if callable(mode) else ("schedule" if name == "full" else "native")


def strategy_name(name: Any) -> str:
    """A registered name or an entry point lower-cased; an import path ``module:Class`` as given."""
    from stbench.plugins import is_import_path
    return str(name) if is_import_path(str(name)) else str(name).lower()


def default_label(name: str) -> str:
    """The label of a strategy without one: its name; for an import path, the class name
    lower-cased (``my_pkg.lossvar:LossVar`` -> ``lossvar``)."""
    from stbench.plugins import is_import_path
    return name.rsplit(":", 1)[1].rsplit(".", 1)[-1].lower() if is_import_path(name) else name


def parse_strategy(entry: Any, where: str) -> StrategySpec:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: a strategy is a name or a mapping with keys {STRATEGY_KEYS}, got {entry!r}")
    _check_keys(entry, STRATEGY_KEYS, where)
    if "name" not in entry:
        raise ConfigError(f"{where}: strategy needs a 'name'")
    name = strategy_name(entry["name"])
    defaults = pruner_defaults(name, where)
    params = entry.get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"{where}.params: expected a mapping, got {params!r}")
    valid = sorted(defaults.get("params", {}))
    for k in params:
        if k not in valid:
            raise ConfigError(f"{where}.params: unknown parameter {k!r} of strategy {name!r}; "
                              f"valid: {', '.join(valid) or '(none)'}")
    ratios = budgets = None
    for one, many in (("ratio", "ratios"), ("budget", "budgets")):
        if one in entry and many in entry:
            raise ConfigError(f"{where}: give {one!r} or {many!r}, not both")
    if "ratio" in entry:
        ratios = check_ratios([entry["ratio"]], where, "ratio")
    elif "ratios" in entry:
        ratios = check_ratios(_as_list(entry["ratios"], "ratios", where), where)
    if "budget" in entry:
        budgets = check_budgets([entry["budget"]], where, "budget")
    elif "budgets" in entry:
        budgets = check_budgets(_as_list(entry["budgets"], "budgets", where), where)
    if _is_outside(name):
        check_outside_params(strategy_class(name, where), params, where)
    merged = deep_merge(defaults["params"], params)
    mode = strategy_budget_mode(name, merged)
    native = check_ratios([defaults.get("ratio", 0.0) if ratios is None else ratios[0]], where, "ratio")[0]
    if name == "full":
        ratios = [0.0]
    if budgets is not None and mode == "native":
        raise ConfigError(f"{where}: strategy {name!r} cannot target a budget in this form "
                          f"(set params.budgeted: true, or give it ratios)")
    label = str(entry.get("label") or default_label(name))
    return StrategySpec(label=label, name=name, params=merged, ratios=ratios, budgets=budgets,
                        budget_mode=mode, native_ratio=native)


def grid_points(st: StrategySpec, ratios: List[float], budgets: Optional[List[float]]) -> List[tuple]:
    """The (ratio, budget) cells of one strategy: its own budgets/ratios first, then the grid's.

    In a budget grid a ``native`` strategy runs once at its own ratio (budget None), and
    ``full`` at budget 1 is the ordinary full-data run (budget None, ratio 0).
    """
    if st.budgets is not None:
        points = st.budgets
    elif st.ratios is not None and (st.name != "full" or budgets is None):
        return [(r, None) for r in st.ratios]
    elif budgets is not None:
        if st.budget_mode == "native":
            return [(st.native_ratio, None)]
        points = budgets
    else:
        return [(r, None) for r in ratios]
    out = []
    for b in points:
        cell = (0.0, None) if (b >= 1.0 and st.name == "full") else (0.0, float(b))
        if cell not in out:
            out.append(cell)
    return out


#: tuning keys -> the short name of a trial in its label (``<label>@lrx0.5``)
TUNING_KEYS = {"lr_mult": "lrx"}


def tuning_trials(block: Any, where: str) -> List[dict]:
    """The trials of a ``tuning:`` mapping {key: [values]} (Cartesian product, in the order
    given); ``[{}]`` (one untuned trial) when ``block`` is None. Values: numbers > 0."""
    if block is None:
        return [{}]
    if not isinstance(block, dict) or not block:
        raise ConfigError(f"{where}.tuning: expected a mapping {{key: [values]}} with keys "
                          f"{', '.join(TUNING_KEYS)}, got {block!r}")
    axes = []
    for k, values in block.items():
        if k not in TUNING_KEYS:
            raise ConfigError(f"{where}.tuning: unknown key {k!r}; valid keys: {', '.join(TUNING_KEYS)}")
        values = _as_list(values, f"tuning.{k}", where)
        nums = _number_list(values, f"tuning.{k}", where, 0.0, math.inf, True, True, "a tuning value")
        if not nums or len(set(nums)) != len(nums):
            raise ConfigError(f"{where}.tuning.{k}: expected distinct numbers > 0, got {values!r}")
        axes.append([(k, v) for v in nums])
    return [dict(t) for t in itertools.product(*axes)]


def with_trial(cfg: dict, trial: dict) -> dict:
    """``cfg`` for one tuning trial: unchanged when every value is 1 (the untuned run), else
    ``strategy.tuning = trial`` and the label ``<label>@<short><value>...``."""
    if all(v == 1.0 for v in trial.values()):
        return cfg
    out = copy.deepcopy(cfg)
    out["strategy"]["tuning"] = dict(trial)
    out["strategy"]["label"] += "@" + "".join(f"{TUNING_KEYS[k]}{v:g}" for k, v in trial.items())
    return out


def _check_overrides(block: dict, where: str) -> None:
    if "train" in block:
        if not isinstance(block["train"], dict):
            raise ConfigError(f"{where}.train: expected a mapping")
        _check_types(block["train"], TRAIN_TYPES, f"{where}.train")
    if "dataset" in block:
        if not isinstance(block["dataset"], dict):
            raise ConfigError(f"{where}.dataset: expected a mapping")
        _check_types(block["dataset"], DATASET_TYPES, f"{where}.dataset")
    for k in ("model_params", "strategy_params"):
        if k in block and not isinstance(block[k], dict):
            raise ConfigError(f"{where}.{k}: expected a mapping (name -> params)")
    if "profiles" in block:
        profs = block["profiles"]
        if not isinstance(profs, dict):
            raise ConfigError(f"{where}.profiles: expected a mapping with keys {PROFILES}")
        for p, sub in profs.items():
            if p not in PROFILES:
                raise ConfigError(f"{where}.profiles: unknown profile {p!r}; valid: {', '.join(PROFILES)}")
            if not isinstance(sub, dict):
                raise ConfigError(f"{where}.profiles.{p}: expected a mapping")
            _check_keys(sub, OVERRIDE_KEYS, f"{where}.profiles.{p}")
            _check_overrides(sub, f"{where}.profiles.{p}")


def _overrides(block: dict, profile: str) -> dict:
    out = {k: block[k] for k in OVERRIDE_KEYS if k in block}
    return deep_merge(out, (block.get("profiles") or {}).get(profile, {}))


def load_profile(profile: str) -> dict:
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    path = CONFIGS / "profiles" / f"{profile}.yaml"
    data = load_yaml(path)
    _check_keys(data, OVERRIDE_KEYS, str(path))
    _check_overrides(data, str(path))
    return data


def _merge_known(params: dict, over: Optional[dict], where: str) -> dict:
    """deep_merge that refuses keys ``params`` does not have (error names ``where`` and the valid keys)."""
    for k in over or {}:
        if k not in params:
            raise ConfigError(f"{where}: unknown parameter {k!r}; valid: {', '.join(sorted(params))}")
    return deep_merge(params, over)


def resolve_run(dataset: str, model: str, strat: StrategySpec, ratio: float, seed: int,
                profile: str, overrides: List[dict], where: str, budget: Optional[float] = None) -> dict:
    """Merge every layer into one run config (see the module docstring for the order)."""
    from stbench.models import model_config

    try:
        mcfg = model_config(model, dataset=dataset, profile=profile)
    except (KeyError, ValueError) as e:
        raise ConfigError(f"{where}: model {model!r}: {e}") from e
    train = deep_merge(TRAIN_DEFAULTS, mcfg.get("train", {}))
    ds = dict(DATASET_DEFAULTS)
    mparams = dict(mcfg.get("params", {}))
    sparams = dict(strat.params)
    for ov in [load_profile(profile)] + overrides:
        train = deep_merge(train, ov.get("train"))
        ds = deep_merge(ds, ov.get("dataset"))
        mparams = _merge_known(mparams, (ov.get("model_params") or {}).get(model),
                               f"{where}.model_params.{model}")
        sp = ov.get("strategy_params") or {}
        sparams = _merge_known(sparams, sp.get(strat.label) or sp.get(strat.name),
                               f"{where}.strategy_params.{strat.label}")
    _check_types(train, TRAIN_TYPES, f"{where}: resolved train")
    from stbench.benchmarks.engine import OPTIMIZERS
    if train["optimizer"] not in OPTIMIZERS:
        raise ConfigError(f"{where}: train.optimizer {train['optimizer']!r} unknown; valid: {', '.join(OPTIMIZERS.names())}")
    check_ranges(train, ds, where)
    if sparams.get("budgeted") is True and budget is None:
        raise ConfigError(f"{where}: strategy {strat.label!r} has params.budgeted: true but no budget "
                          f"(give the suite or the strategy 'budgets')")
    strategy = {"label": strat.label, "name": strat.name, "ratio": float(ratio), "params": sparams}
    if budget is not None:
        strategy["budget"] = float(budget)
    return {
        "dataset": {"name": dataset, **ds},
        "model": {"name": model, "params": mparams},
        "strategy": strategy,
        "train": train,
        "seed": int(seed),
        "profile": profile,
        **code_block(strat.name, model),
    }


def code_block(strategy: str, model: Optional[str] = None) -> dict:
    """``{"code": {...}}`` for a run's config, or ``{}`` when every entry is neutral.

    ``code.stbench``: the suite's code (stbench.codeid.suite_code), present only when it is
    not ``codeid.NEUTRAL_VERSION`` (committed runs were made at it and keep their ids);
    ``code.strategy``: an outside strategy's code, ``sha256:<16 hex>`` of its module's (or
    package's) source, prefixed by ``dist==version`` for an entry point. Both are part of the
    run's identity: changing them makes the cell pending.
    """
    from stbench import codeid, plugins
    from stbench.pruning.base import ENTRY_POINT_GROUP
    code = {}
    suite = codeid.suite_code()
    if suite != codeid.NEUTRAL_VERSION:
        code["stbench"] = suite
    info = plugins.info(strategy, ENTRY_POINT_GROUP)
    if info is not None:
        code["strategy"] = (f"{info.dist} " if info.dist else "") + f"sha256:{info.digest[:16]}"
    if model is not None:
        from stbench.models.base import ENTRY_POINT_GROUP as MODEL_GROUP
        minfo = plugins.info(model, MODEL_GROUP)
        if minfo is not None:
            code["model"] = (f"{minfo.dist} " if minfo.dist else "") + f"sha256:{minfo.digest[:16]}"
    return {"code": code} if code else {}


def plugin_paths(config: dict) -> tuple:
    """Directories a worker process must put on sys.path to import the run's outside strategy."""
    from stbench import plugins
    from stbench.pruning.base import ENTRY_POINT_GROUP
    from stbench.models.base import ENTRY_POINT_GROUP as MODEL_GROUP
    infos = [plugins.info(config["strategy"]["name"], ENTRY_POINT_GROUP),
             plugins.info(config["model"]["name"], MODEL_GROUP)]
    return tuple(dict.fromkeys(i.path for i in infos if i is not None and i.path))


#: (block, key) -> smallest valid value, checked on every resolved run before anything runs
_MINIMA = {("train", "epochs"): 1, ("train", "batch_size"): 1, ("train", "eval_batch_size"): 1,
           ("train", "threads"): 0, ("dataset", "in_steps"): 1, ("dataset", "out_steps"): 1,
           ("dataset", "max_steps"): 1}


def check_ranges(train: dict, ds: dict, where: str) -> None:
    """Every integer setting at least its minimum, lr > 0, gamma in (0, 1], known loss."""
    blocks = {"train": train, "dataset": ds}
    for (blk, key), lo in _MINIMA.items():
        v = blocks[blk].get(key)
        if v is not None and v < lo:
            raise ConfigError(f"{where}: {blk}.{key} must be an integer >= {lo}, got {v!r}")
    if not train["lr"] > 0:
        raise ConfigError(f"{where}: train.lr must be > 0, got {train['lr']!r}")
    if train["weight_decay"] < 0:
        raise ConfigError(f"{where}: train.weight_decay must be >= 0, got {train['weight_decay']!r}")
    if not 0 < train["gamma"] <= 1:
        raise ConfigError(f"{where}: train.gamma must be in (0, 1], got {train['gamma']!r}")
    if train["clip"] is not None and train["clip"] <= 0:
        raise ConfigError(f"{where}: train.clip must be > 0 or null, got {train['clip']!r}")
    ms = train["milestones"]
    if not all(isinstance(m, int) and not isinstance(m, bool) and m >= 1 for m in ms):
        raise ConfigError(f"{where}: train.milestones must be a list of epochs (integers >= 1), got {ms!r}")
    if not 0 < ds.get("train_fraction", 1.0) <= 1:
        raise ConfigError(f"{where}: dataset.train_fraction must be in (0, 1], got {ds['train_fraction']!r}")
    if ds.get("mape_min_target", 0.0) < 0:
        raise ConfigError(f"{where}: dataset.mape_min_target must be >= 0, got {ds['mape_min_target']!r}")
    pg = train.get("pass_grid")
    if pg is not None and not 0 < pg <= 1:
        raise ConfigError(f"{where}: train.pass_grid must be in (0, 1] (a fraction of the training "
                          f"windows n) or null, got {pg!r}")
    if train["loss"] not in LOSSES:
        raise ConfigError(f"{where}: train.loss must be one of {', '.join(LOSSES)}, got {train['loss']!r}")
    from stbench.benchmarks.optimizers import check_optimizer_settings
    check_optimizer_settings(train, where, ConfigError)


def attach_data_identities(specs: List[RunSpec], data_root=None) -> None:
    """Set each spec's ``data_identity`` (one computation per data set), or ``data_error``
    (a file missing or unreadable: the spec can be listed, not run)."""
    from stbench.datasets.identity import dataset_identity
    cache: Dict[str, tuple] = {}
    for spec in specs:
        name = spec.config["dataset"]["name"]
        if name not in cache:
            try:
                cache[name] = (dataset_identity(name, data_root), None)
            except Exception as e:  # noqa: BLE001 - reported per cell, raised by the runner
                cache[name] = (None, f"data set {name}: {e}")
        spec.data_identity, spec.data_error = cache[name]


def load_suite(path: Path, profile: Optional[str] = None, seeds: Optional[Iterable[int]] = None,
               data_root=None, devices: str = "note") -> tuple[dict, List[RunSpec]]:
    """Parse and validate a suite file; return (suite dict, run specs in grid order, de-duplicated).

    The whole suite is checked first (benchmarks.schema: every problem at once; its notes
    in ``suite["validation_notes"]``; ``devices`` as there). Each spec carries its data
    set's identity (spec + file sha256s) from ``data_root``."""
    from stbench.benchmarks.schema import validate_suite
    path = Path(path)
    suite = load_yaml(path)
    from stbench.plugins import add_paths
    add_paths([path.resolve().parent])  # import paths ``module:Class`` may name a module beside the suite
    notes = validate_suite(path, suite, profile=profile, seeds=seeds, devices=devices)
    where = str(path)
    _check_keys(suite, SUITE_KEYS, where)
    _check_overrides(suite, where)
    launcher = check_launcher(suite.get("launcher"), f"{where}.launcher")
    prof = profile or suite.get("profile") or "cpu"
    if prof not in PROFILES:
        raise ConfigError(f"{where}: profile {prof!r} unknown; valid: {', '.join(PROFILES)}")
    blocks = suite.get("experiments") or [{}]
    if not isinstance(blocks, list):
        raise ConfigError(f"{where}.experiments: expected a list of mappings")
    specs: List[RunSpec] = []
    seen = set()
    for bi, block in enumerate(blocks):
        bwhere = f"{where}.experiments[{bi}]" if suite.get("experiments") else where
        if not isinstance(block, dict):
            raise ConfigError(f"{bwhere}: expected a mapping")
        _check_keys(block, BLOCK_KEYS, bwhere)
        _check_overrides(block, bwhere)
        axes = {k: block.get(k, suite.get(k)) for k in AXIS_KEYS}
        for k in ("datasets", "models", "strategies"):
            if not axes[k]:
                raise ConfigError(f"{bwhere}: missing or empty '{k}'")
        dsets = [_canonical_dataset(d, f"{bwhere}.datasets") for d in _as_list(axes["datasets"], "datasets", bwhere)]
        mods = [_check_model(m, f"{bwhere}.models") for m in _as_list(axes["models"], "models", bwhere)]
        strats = [parse_strategy(s, f"{bwhere}.strategies[{i}]")
                  for i, s in enumerate(_as_list(axes["strategies"], "strategies", bwhere))]
        labels = [s.label for s in strats]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"{bwhere}.strategies: labels must be unique, got {labels}")
        ratios = check_ratios(_as_list(axes["ratios"] if axes["ratios"] is not None else [0.5], "ratios", bwhere),
                              bwhere)
        budgets = (None if axes["budgets"] is None
                   else check_budgets(_as_list(axes["budgets"], "budgets", bwhere), bwhere))
        trials = tuning_trials(axes["tuning"], bwhere)
        run_seeds = list(seeds) if seeds is not None else _as_list(axes["seeds"] if axes["seeds"] is not None else [0], "seeds", bwhere)
        for s in run_seeds:
            if not isinstance(s, int) or isinstance(s, bool) or s < 0:
                raise ConfigError(f"{bwhere}.seeds: seeds must be integers >= 0, got {s!r}")
        overrides = [_overrides(suite, prof), _overrides(block, prof)]
        exp_name = str(block.get("name") or suite.get("name") or path.stem)
        for d, m, st in itertools.product(dsets, mods, strats):
            for r, b in grid_points(st, ratios, budgets):
                for trial, s in itertools.product(trials, run_seeds):
                    cfg = with_trial(resolve_run(d, m, st, r, s, prof, overrides, bwhere, budget=b), trial)
                    spec = RunSpec(cfg, exp_name, plugin_paths=plugin_paths(cfg))
                    if spec.config_hash in seen:
                        continue
                    seen.add(spec.config_hash)
                    specs.append(spec)
    attach_data_identities(specs, data_root)
    suite = dict(suite)
    suite["launcher"] = launcher
    suite["profile"] = prof
    suite.setdefault("name", path.stem)
    suite["validation_notes"] = notes
    return suite, specs


ONLY_KEYS = ("dataset", "model", "strategy", "pruner", "ratio", "budget", "seed", "experiment", "optimizer")


def parse_only(items: Optional[List[str]]) -> Dict[str, set]:
    """``--only dataset=LOS-LOOP,strategy=stprune --only seed=0|1`` -> {key: {values}}.

    Comma separates conditions (ANDed); '|' separates alternatives of one key (ORed).
    ``budget=none`` selects the cells without a budget (ratio cells).
    """
    out: Dict[str, set] = {}
    for item in items or []:
        for cond in filter(None, (c.strip() for c in item.split(","))):
            if "=" not in cond:
                raise ConfigError(f"--only {cond!r}: expected key=value with key in {', '.join(ONLY_KEYS)}")
            k, v = (x.strip() for x in cond.split("=", 1))
            if k not in ONLY_KEYS:
                raise ConfigError(f"--only: unknown key {k!r}; valid keys: {', '.join(ONLY_KEYS)}")
            for x in (x.strip() for x in v.split("|")):
                if k in ("ratio", "budget") and not (k == "budget" and x.lower() == "none"):
                    try:
                        float(x)
                    except ValueError:
                        raise ConfigError(f"--only {k}={x!r}: expected a number") from None
                out.setdefault(k, set()).add(x)
    return out


def _value_matches(k: str, v, x: str) -> bool:
    if k in ("ratio", "budget"):
        if v is None or x.lower() == "none":
            return v is None and x.lower() == "none"
        return abs(float(v) - float(x)) < 1e-9
    if k == "seed":
        return str(v) == x
    return str(v).lower() == x.lower()


def matches(spec: RunSpec, only: Dict[str, set]) -> bool:
    key = spec.key()
    return all(any(_value_matches(k, key[k], x) for x in vals) for k, vals in only.items())


def check_only(specs: List[RunSpec], only: Dict[str, set]) -> None:
    """Every --only value must match some cell of the grid; else the error lists the valid ones."""
    keys = [s.key() for s in specs]
    for k, vals in only.items():
        for x in sorted(vals):
            if not any(_value_matches(k, key[k], x) for key in keys):
                valid = sorted({"none" if key[k] is None else f"{key[k]:g}" if isinstance(key[k], float)
                                else str(key[k]) for key in keys})
                raise ConfigError(f"--only {k}={x}: matches no cell of the grid; valid values of {k!r}: "
                                  f"{', '.join(valid) or '(none)'}")
