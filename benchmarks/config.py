"""Suite files -> validated, fully resolved run configs.

A suite YAML lists grid axes and overrides::

    name: quick                  # results go to results/<name> unless --out
    profile: smoke               # smoke | cpu | paper (CLI --profile wins)
    datasets: [SYNTHETIC]
    models: [stid, gwnet]
    strategies: [full, random, {label: stprune-nocx, name: stprune, params: {use_complexity: false}}]
    ratios: [0.5]                # prune ratios for every strategy but full (ratio 0)
    seeds: [0, 1, 2]
    train: {epochs: 10}          # overrides, deep-merged (also: dataset, model_params)
    profiles: {cpu: {train: {epochs: 40}}}
    experiments:                 # optional sub-grids; each block overrides the axes above
      - {name: main, strategies: [full, infobatch]}
    launcher: {partition: gpu, time_min: 120, gpus_per_job: 1}   # how to run it (docs/scaling.md)

Precedence of a run's settings, low to high: engine defaults < model YAML `train`
< model YAML per data set < model YAML per profile < configs/profiles/<profile>.yaml
< suite top level < suite `profiles[profile]` < experiment block (and its `profiles`).

A run's identity is the sha256 of its canonical resolved config (data root and
output paths excluded); its directory is named
``<dataset>_<model>_<strategy>_r<ratio>_s<seed>_<hash8>``.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
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
}
DATASET_DEFAULTS: Dict[str, Any] = {
    "in_steps": 12,
    "out_steps": 12,
    "split": None,
    "max_steps": None,
    "scaler_ignore_null": False,
}

# key -> accepted python types (None allowed where listed)
TRAIN_TYPES = {
    "epochs": (int,), "batch_size": (int,), "eval_batch_size": (int,), "optimizer": (str,),
    "lr": (float, int), "weight_decay": (float, int), "momentum": (float, int),
    "milestones": (list,), "gamma": (float, int), "clip": (float, int, type(None)),
    "threads": (int,), "device": (str,),
}
DATASET_TYPES = {
    "in_steps": (int,), "out_steps": (int,), "split": (list, type(None)),
    "max_steps": (int, type(None)), "scaler_ignore_null": (bool,),
}
OVERRIDE_KEYS = ("train", "dataset", "model_params", "strategy_params")
AXIS_KEYS = ("datasets", "models", "strategies", "ratios", "seeds")
SUITE_KEYS = (("name", "description", "profile", "out", "experiments", "profiles", "launcher")
              + AXIS_KEYS + OVERRIDE_KEYS)
BLOCK_KEYS = ("name", "description", "profiles") + AXIS_KEYS + OVERRIDE_KEYS
STRATEGY_KEYS = ("name", "label", "ratio", "ratios", "params")


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
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


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


def config_hash(cfg: dict) -> str:
    return hashlib.sha256(canonical_json(cfg).encode()).hexdigest()


@dataclass
class StrategySpec:
    label: str
    name: str
    params: dict
    ratios: Optional[List[float]]  # None: use the grid's ratios


@dataclass
class RunSpec:
    """One cell of the grid with its resolved config."""

    config: dict
    experiment: str

    @property
    def hash(self) -> str:
        return config_hash(self.config)

    @property
    def run_id(self) -> str:
        c = self.config
        return (f"{c['dataset']['name']}_{c['model']['name']}_{c['strategy']['label']}"
                f"_r{c['strategy']['ratio']:.2f}_s{c['seed']}_{self.hash[:8]}")

    def key(self) -> dict:
        c = self.config
        return {"dataset": c["dataset"]["name"], "model": c["model"]["name"],
                "strategy": c["strategy"]["label"], "pruner": c["strategy"]["name"],
                "ratio": c["strategy"]["ratio"], "seed": c["seed"], "profile": c["profile"],
                "experiment": self.experiment}


# ----------------------------------------------------------------------------- registries

def _known_datasets() -> List[str]:
    from datasets import dataset_names
    return dataset_names()


def _canonical_dataset(name: str, where: str) -> str:
    names = _known_datasets()
    for n in names:
        if n.lower() == str(name).lower():
            return n
    raise ConfigError(f"{where}: unknown data set {name!r}; valid choices: {', '.join(names)}")


def _check_model(name: str, where: str) -> str:
    import models
    if name not in models.MODELS:
        raise ConfigError(f"{where}: unknown model {name!r}; valid choices: {', '.join(models.MODELS.names())}")
    return str(name).lower()


def pruner_defaults(name: str, where: str = "") -> dict:
    """The strategy's YAML (configs/pruners/NAME.yaml): {name, ratio, params}."""
    import pruning
    from pruning.base import PRUNERS
    if name not in PRUNERS:
        raise ConfigError(f"{where}: unknown strategy {name!r}; valid choices: {', '.join(PRUNERS.names())}")
    path = CONFIGS / "pruners" / f"{str(name).lower()}.yaml"
    data = load_yaml(path) if path.exists() else {"name": name, "ratio": 0.0, "params": {}}
    data.setdefault("params", {})
    return data


# ----------------------------------------------------------------------------- parsing

def _as_list(v: Any, key: str, where: str) -> list:
    if v is None:
        return []
    if isinstance(v, (str, int, float, dict)):
        v = [v]
    if not isinstance(v, list):
        raise ConfigError(f"{where}.{key}: expected a list, got {v!r}")
    return v


def parse_strategy(entry: Any, where: str) -> StrategySpec:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: a strategy is a name or a mapping with keys {STRATEGY_KEYS}, got {entry!r}")
    _check_keys(entry, STRATEGY_KEYS, where)
    if "name" not in entry:
        raise ConfigError(f"{where}: strategy needs a 'name'")
    name = str(entry["name"]).lower()
    defaults = pruner_defaults(name, where)
    params = entry.get("params") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"{where}.params: expected a mapping, got {params!r}")
    valid = sorted(defaults.get("params", {}))
    for k in params:
        if k not in valid:
            raise ConfigError(f"{where}.params: unknown parameter {k!r} of strategy {name!r}; "
                              f"valid: {', '.join(valid) or '(none)'}")
    ratios = None
    if "ratio" in entry and "ratios" in entry:
        raise ConfigError(f"{where}: give 'ratio' or 'ratios', not both")
    if "ratio" in entry:
        ratios = [entry["ratio"]]
    elif "ratios" in entry:
        ratios = _as_list(entry["ratios"], "ratios", where)
    if name == "full":
        ratios = [0.0]
    for r in ratios or []:
        if not isinstance(r, (int, float)) or isinstance(r, bool) or not 0 <= r < 1:
            raise ConfigError(f"{where}: prune ratio must be a number in [0, 1), got {r!r}")
    label = str(entry.get("label") or name)
    return StrategySpec(label=label, name=name, params=deep_merge(defaults["params"], params),
                        ratios=None if ratios is None else [float(r) for r in ratios])


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
                profile: str, overrides: List[dict], where: str) -> dict:
    """Merge every layer into one run config (see the module docstring for the order)."""
    from models import model_config

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
    from benchmarks.engine import OPTIMIZERS
    if train["optimizer"] not in OPTIMIZERS:
        raise ConfigError(f"{where}: train.optimizer {train['optimizer']!r} unknown; valid: {', '.join(OPTIMIZERS.names())}")
    if train["epochs"] < 1 or train["batch_size"] < 1:
        raise ConfigError(f"{where}: train.epochs and train.batch_size must be >= 1")
    return {
        "dataset": {"name": dataset, **ds},
        "model": {"name": model, "params": mparams},
        "strategy": {"label": strat.label, "name": strat.name, "ratio": float(ratio), "params": sparams},
        "train": train,
        "seed": int(seed),
        "profile": profile,
    }


def load_suite(path: Path, profile: Optional[str] = None, seeds: Optional[Iterable[int]] = None) -> tuple[dict, List[RunSpec]]:
    """Parse and validate a suite file; return (suite dict, run specs in grid order, de-duplicated)."""
    path = Path(path)
    suite = load_yaml(path)
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
        ratios = [float(r) for r in _as_list(axes["ratios"] if axes["ratios"] is not None else [0.5], "ratios", bwhere)]
        for r in ratios:
            if not 0 <= r < 1:
                raise ConfigError(f"{bwhere}.ratios: prune ratio must be in [0, 1), got {r}")
        run_seeds = list(seeds) if seeds is not None else _as_list(axes["seeds"] if axes["seeds"] is not None else [0], "seeds", bwhere)
        for s in run_seeds:
            if not isinstance(s, int) or isinstance(s, bool):
                raise ConfigError(f"{bwhere}.seeds: seeds must be integers, got {s!r}")
        overrides = [_overrides(suite, prof), _overrides(block, prof)]
        exp_name = str(block.get("name") or suite.get("name") or path.stem)
        for d, m, st in itertools.product(dsets, mods, strats):
            for r in (st.ratios if st.ratios is not None else ratios):
                for s in run_seeds:
                    cfg = resolve_run(d, m, st, r, s, prof, overrides, bwhere)
                    spec = RunSpec(cfg, exp_name)
                    if spec.hash in seen:
                        continue
                    seen.add(spec.hash)
                    specs.append(spec)
    suite = dict(suite)
    suite["launcher"] = launcher
    suite["profile"] = prof
    suite.setdefault("name", path.stem)
    return suite, specs


def parse_only(items: Optional[List[str]]) -> Dict[str, set]:
    """``--only dataset=LOS-LOOP,strategy=stprune --only seed=0|1`` -> {key: {values}}.

    Comma separates conditions (ANDed); '|' separates alternatives of one key (ORed).
    """
    valid = ("dataset", "model", "strategy", "pruner", "ratio", "seed", "experiment")
    out: Dict[str, set] = {}
    for item in items or []:
        for cond in filter(None, (c.strip() for c in item.split(","))):
            if "=" not in cond:
                raise ConfigError(f"--only {cond!r}: expected key=value with key in {', '.join(valid)}")
            k, v = (x.strip() for x in cond.split("=", 1))
            if k not in valid:
                raise ConfigError(f"--only: unknown key {k!r}; valid keys: {', '.join(valid)}")
            out.setdefault(k, set()).update(x.strip() for x in v.split("|"))
    return out


def matches(spec: RunSpec, only: Dict[str, set]) -> bool:
    key = spec.key()
    for k, vals in only.items():
        v = key[k]
        if k == "ratio":
            if not any(abs(float(v) - float(x)) < 1e-9 for x in vals):
                return False
        elif k == "seed":
            if str(v) not in vals:
                return False
        elif str(v).lower() not in {x.lower() for x in vals}:
            return False
    return True
