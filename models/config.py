"""Model settings from ``configs/models/NAME.yaml``.

File layout (every section optional except ``params`` and ``train``)::

    params:   {...}                    published hyper-parameters (the model's kwargs)
    train:    {optimizer, lr, weight_decay, milestones, gamma, clip, batch_size}
    datasets: {PEMS08: {params: {...}, train: {...}}}      per data set overrides
    profiles: {smoke: {...}, cpu: {...}, paper: {}}         per profile overrides

``model_config(name, dataset, profile)`` deep-merges params/train <
datasets[dataset] < profiles[profile]. Override keys must already exist in the
base ``params`` / ``train`` sections; every error names the file, the key and the
valid keys.
"""
from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any, Dict, Optional

import yaml

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "models"
TOP_KEYS = ("params", "train", "datasets", "profiles")
SECTIONS = ("params", "train")


def model_names() -> list[str]:
    """Names of the models that have a config file."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load_model_file(name: str) -> Dict[str, Any]:
    """The raw YAML of model ``name``, with its top-level layout checked."""
    path = CONFIG_DIR / f"{str(name).lower()}.yaml"
    if not path.is_file():
        raise ValueError(f"no model config {path}; available: {', '.join(model_names()) or '(none)'}")
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with keys {', '.join(TOP_KEYS)}")
    bad = sorted(set(data) - set(TOP_KEYS))
    if bad:
        raise ValueError(f"{path}: unknown top-level key(s) {', '.join(bad)}; valid keys: {', '.join(TOP_KEYS)}")
    for sec in SECTIONS:
        if not isinstance(data.get(sec), dict):
            raise ValueError(f"{path}: section {sec!r} must be a mapping")
    return data


def deep_merge(base: Dict[str, Any], over: Optional[Dict[str, Any]], where: str) -> Dict[str, Any]:
    """Copy of ``base`` with ``over`` merged in; keys of ``over`` must exist in ``base``."""
    out = copy.deepcopy(base)
    if not over:
        return out
    if not isinstance(over, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(over).__name__}")
    for k, v in over.items():
        if k not in out:
            raise ValueError(f"{where}: unknown key {k!r}; valid keys: {', '.join(sorted(out))}")
        out[k] = deep_merge(out[k], v, f"{where}.{k}") if isinstance(out[k], dict) and isinstance(v, dict) \
            else copy.deepcopy(v)
    return out


def _apply(cfg: Dict[str, Any], layer: Any, where: str) -> Dict[str, Any]:
    if layer is None:
        return cfg
    if not isinstance(layer, dict):
        raise ValueError(f"{where}: expected a mapping with keys {', '.join(SECTIONS)}")
    bad = sorted(set(layer) - set(SECTIONS))
    if bad:
        raise ValueError(f"{where}: unknown key(s) {', '.join(bad)}; valid keys: {', '.join(SECTIONS)}")
    return {sec: deep_merge(cfg[sec], layer.get(sec), f"{where}.{sec}") for sec in SECTIONS}


def _lookup(table: Dict[str, Any], key: str) -> Any:
    for k, v in table.items():
        if str(k).lower() == key.lower():
            return v
    return None


def _check_params(name: str, params: Dict[str, Any], path: Path) -> None:
    from .base import MODELS

    if name not in MODELS:
        return
    sig = inspect.signature(MODELS.get(name).__init__).parameters
    valid = [p for p in sig if p not in ("self", "meta")]
    bad = sorted(set(params) - set(valid))
    if bad:
        raise ValueError(f"{path}: params: {', '.join(bad)} not accepted by model {name!r}; valid keys: {', '.join(valid)}")


def _outside(name: str) -> bool:
    from .base import is_outside_model, model_class
    try:
        model_class(name)
    except KeyError:
        return False
    return is_outside_model(name)


def _class_defaults(name: str) -> Dict[str, Any]:
    """An outside model without a YAML: its keyword arguments' defaults, no train settings."""
    from .base import model_class
    sig = inspect.signature(model_class(name).__init__).parameters
    params = {k: p.default for k, p in sig.items() if k not in ("self", "meta")
              and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is not p.empty}
    return {"params": params, "train": {}}


def model_config(name: str, dataset: Optional[str] = None, profile: Optional[str] = None) -> Dict[str, Any]:
    """{"params": ..., "train": ...} for model ``name`` on ``dataset`` under ``profile``.

    ``profile`` None (or absent from the file's ``profiles`` only when it is None)
    means the published settings; an unknown profile raises ValueError.
    """
    path = CONFIG_DIR / f"{str(name).lower()}.yaml"
    own = not path.is_file() and _outside(name)   # an outside model without a YAML: no profiles
    data = _class_defaults(name) if own else load_model_file(name)
    cfg = {sec: copy.deepcopy(data[sec]) for sec in SECTIONS}
    if dataset is not None:
        cfg = _apply(cfg, _lookup(data.get("datasets") or {}, str(dataset)), f"{path}: datasets.{dataset}")
    if profile is not None and not own:
        profiles = data.get("profiles") or {}
        if profile not in profiles:
            raise ValueError(f"{path}: unknown profile {profile!r}; valid profiles: {', '.join(profiles)}")
        cfg = _apply(cfg, profiles[profile], f"{path}: profiles.{profile}")
    _check_params(str(name).lower(), cfg["params"], path)
    return cfg
