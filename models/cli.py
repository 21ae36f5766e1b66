"""``python run_benchmark.py models list|info``: the registered backbones and their sizes.

``models info NAME --dataset D [--profile P]`` builds the model for data set D and
prints its parameter count and the settings used. The data set's meta (node count,
graph, steps per day) comes from the real data set when it can be loaded; otherwise
from the table of node counts below and the graph file if present (else identity):
parameter counts do not depend on the adjacency values.
"""
from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

# fallback node counts (the published data sets and the suite's own)
NODE_COUNTS = {"METR-LA": 207, "PEMS-BAY": 325, "PEMS03": 358, "PEMS04": 307, "PEMS07": 883, "PEMS08": 170,
               "LOS-LOOP": 207, "HANGZHOU-METRO": 80, "AQI36": 36, "ERA5-UK-T2M": 1617, "SYNTHETIC": 40}


def _read_graph_file(path: Path, n: int) -> Optional[np.ndarray]:
    """A DCRNN pickle ([ids, id->index, adj]) or an edge list ``from,to[,cost]`` (binary, symmetric)."""
    if path.suffix == ".pkl":
        with open(path, "rb") as f:
            obj = pickle.load(f, encoding="latin1")
        adj = np.asarray(obj[2] if isinstance(obj, (list, tuple)) else obj, dtype=np.float32)
        return adj if adj.shape == (n, n) else None
    if path.suffix == ".csv":
        adj = np.zeros((n, n), dtype=np.float32)
        for line in path.read_text().splitlines():
            parts = line.split(",")
            try:
                i, j = int(float(parts[0])), int(float(parts[1]))
            except (ValueError, IndexError):
                continue  # header
            if 0 <= i < n and 0 <= j < n:
                adj[i, j] = adj[j, i] = 1.0
        return adj
    return None


def _fallback_meta(name: str, data_root, why: str = "") -> Tuple["object", str]:
    from stbench.datasets.base import DatasetMeta

    canon = next((k for k in NODE_COUNTS if k.lower() == str(name).lower()), None)
    if canon is None:
        from stbench import datasets

        spec = datasets.dataset_spec(name)  # an unknown name: the registry's message, every data set
        raise ValueError(f"{spec['name']}: cannot be loaded here ({why or 'its files are missing'}) and its "
                         f"node count is not in the fallback table; fetch it with `python run_benchmark.py "
                         f"data download {spec['name']}` or give --data-root")
    n, steps_per_day, adj, source = NODE_COUNTS[canon], 288, None, "identity graph (no graph file found)"
    try:
        from stbench import datasets

        spec = datasets.dataset_spec(canon)
        steps_per_day = int(round(24 * 60 / float(spec["time"]["step_minutes"])))
        graph = datasets.dataset_files(canon, data_root).get("graph")
        if graph is not None and Path(graph).is_file():
            adj = _read_graph_file(Path(graph), n)
            source = f"graph file {graph}" if adj is not None else source
    except Exception:  # the data layer may be absent or partial: fall back to identity
        pass
    if adj is None:
        adj = np.eye(n, dtype=np.float32)
    return DatasetMeta(name=canon, num_nodes=n, steps_per_day=steps_per_day, adj=adj), source


def dataset_meta(name: str, data_root=None) -> Tuple["object", str]:
    """(DatasetMeta, where it came from) for data set ``name``; see the module docstring."""
    try:
        from stbench import datasets

        data = datasets.load_windowed(name, data_root)
        return data.meta, f"the {data.meta.name} data set (its own graph)"
    except Exception as e:  # missing files, data layer not importable yet, ...
        return _fallback_meta(name, data_root, str(e).splitlines()[0].split(" | ")[0] if str(e) else type(e).__name__)


def model_info(name: str, dataset: str, profile: Optional[str] = None, data_root=None) -> dict:
    """Parameter count and settings of model ``name`` built for ``dataset``."""
    from stbench.models import build_model, count_params, model_config

    cfg = model_config(name, dataset=dataset, profile=profile)
    meta, source = dataset_meta(dataset, data_root)
    model = build_model(name, meta, **cfg["params"])
    n = count_params(model)
    unused = int(getattr(model, "official_unused_params", lambda: 0)())
    return {"model": name.lower(), "dataset": meta.name, "profile": profile or "paper", "params": n,
            "official_unused_params": unused, "params_official_layout": n + unused,
            "meta": {"num_nodes": meta.num_nodes, "in_steps": meta.in_steps, "out_steps": meta.out_steps,
                     "steps_per_day": meta.steps_per_day, "source": source},
            "settings": cfg}


def _cmd_list(args) -> int:
    from stbench.models import MODELS, model_names

    rows = [{"name": n, "class": MODELS.get(n).__name__, "config": n in model_names(),
             "summary": (MODELS.get(n).__doc__ or "").strip().splitlines()[0]} for n in MODELS.names()]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['name']:<12} {r['summary']}")
    return 0


def _cmd_info(args) -> int:
    try:
        info = model_info(args.name, args.dataset, args.profile, args.data_root)
    except (KeyError, ValueError) as e:
        print(f"error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        extra = (f" ({info['params_official_layout']:,} counting the {info['official_unused_params']:,} the "
                 f"official code allocates but never uses)" if info["official_unused_params"] else "")
        print(f"{info['model']} on {info['dataset']} ({info['profile']}): {info['params']:,} parameters{extra}")
        print(f"graph: {info['meta']['source']}")
        for sec in ("params", "train"):
            print(f"{sec}: " + ", ".join(f"{k}={v}" for k, v in info["settings"][sec].items()))
    return 0


def add_models_commands(subparsers) -> None:
    p = subparsers.add_parser("models", help="registered backbones: list, info (parameter counts, settings)")
    sub = p.add_subparsers(dest="models_command", metavar="ACTION")
    q = sub.add_parser("list", help="registered models")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_cmd_list)
    q = sub.add_parser("info", help="parameter count and settings of one model on one data set")
    q.add_argument("name")
    q.add_argument("--dataset", required=True, help="data set name, e.g. METR-LA, PEMS08")
    q.add_argument("--profile", choices=("smoke", "cpu", "paper"), default=None, help="default: paper")
    q.add_argument("--data-root", default=None, help="data root (default: $STBENCH_DATA, else ./data)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_cmd_info)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
