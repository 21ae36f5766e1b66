"""``python run_benchmark.py data {list,info,download,verify}``.

* ``data list [--json]``: every registered data set with its format, folder and whether
  all its files are present under the data root.
* ``data info NAME [--json]``: loads the data set under the protocol and prints
  ``WindowedData.info()`` (nodes, steps, windows per split, missing fraction, graph
  edges, step, start, split, scaler).
* ``data download NAME [--force]``: fetches the published files (resumable, checked).
* ``data verify NAME``: sha256 of the present files against the YAML.
* ``data check PATH.yaml``: validates a data-set YAML that need not be registered yet
  (schema, files present, checksums, loads, graph builds) and prints ``data info``.

Every subcommand takes ``--data-root DIR`` (else $STBENCH_DATA, else ./data) and
``--dataset-config DIR`` (a directory of data-set YAMLs to register; may repeat).
Data problems print one line ``error: ...`` and return exit code 1.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Callable

from .base import DataError

HELP = """\
List, inspect, download and verify the registered data sets.

  data list [--json]             every data set: format, folder, files present? (a broken
                                 data-set YAML is listed as broken, with the reason)
  data info NAME [--json]        load NAME under the protocol: nodes, steps, windows per
                                 split, missing fraction, graph edges, step, start, scaler
  data download NAME [--force]   fetch NAME's published files (resumable, size and sha256
                                 checked)
  data verify NAME               sha256 of NAME's present files against its YAML
  data check PATH.yaml [--json]  validate a new data-set YAML (schema, files present,
                                 loads, graph builds) and print what data info would

Every subcommand takes --data-root DIR (default: $STBENCH_DATA, else ./data) and
--dataset-config DIR (register a directory of data-set YAMLs; may repeat).
Data sets are the YAML files in configs/datasets/ and in the directories listed in
$STBENCH_DATASET_CONFIGS (see docs/datasets.md; your own data: docs/own_data.md). A data problem prints one line
"error: ..." and exits with status 1.
"""


def _root_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", default=None, metavar="DIR",
                   help="data root (default: $STBENCH_DATA, else ./data)")
    p.add_argument("--dataset-config", action="append", metavar="DIR",
                   help="a directory of data-set YAMLs to register (adds to $STBENCH_DATASET_CONFIGS); "
                        "may repeat")


def _use_dataset_configs(args: argparse.Namespace) -> None:
    """--dataset-config DIR: prepend DIR to $STBENCH_DATASET_CONFIGS (the registry reads it on every lookup)."""
    dirs = getattr(args, "dataset_config", None) or []
    if not dirs:
        return
    import os
    from pathlib import Path

    from .registry import EXTRA_DIRS_ENV

    for d in dirs:
        if not Path(d).is_dir():
            raise DataError(f"--dataset-config {d}: not a directory (expected a directory of data-set YAMLs)")
    os.environ[EXTRA_DIRS_ENV] = os.pathsep.join(
        [str(Path(d).resolve()) for d in dirs] + [os.environ.get(EXTRA_DIRS_ENV, "")]).rstrip(os.pathsep)


def _guarded(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            _use_dataset_configs(args)
            return fn(args)
        except (DataError, KeyError) as exc:
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            print(f"error: {msg}", file=sys.stderr)
            return 2  # bad input: a data set, a file or a YAML (README: exit codes)
    run.__doc__ = fn.__doc__
    return run


def cmd_list(args: argparse.Namespace) -> int:
    """One row per registered data set: name, format, present, folder."""
    from . import dataset_names, dataset_present, dataset_spec, resolve_data_root
    from .registry import broken_datasets

    root = resolve_data_root(args.data_root)
    rows = []
    for name in dataset_names():
        spec = dataset_spec(name)
        rows.append({"name": name, "format": spec["format"], "present": dataset_present(name, root),
                     "folder": str(root / spec["folder"]) if spec["files"] else None,
                     "files": [f["path"] for f in spec["files"].values()], "broken": None})
    for name, reason in sorted(broken_datasets().items()):
        rows.append({"name": name, "format": None, "present": False, "folder": None, "files": [],
                     "broken": reason})
    rows.sort(key=lambda r: r["name"])
    if args.json:
        print(json.dumps({"data_root": str(root), "datasets": rows}, indent=2))
    else:
        print(f"data root: {root}")
        print(f"{'name':<18} {'format':<12} {'present':<8} folder")
        for r in rows:
            if r["broken"]:
                print(f"{r['name']:<18} {'BROKEN':<12} {'-':<8} {r['broken']}")
                continue
            print(f"{r['name']:<18} {r['format']:<12} {'yes' if r['present'] else 'no':<8} "
                  f"{r['folder'] or '(generated)'}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Load NAME under the protocol and print WindowedData.info() (+ split, format, files)."""
    from . import dataset_spec, load_windowed

    spec = dataset_spec(args.name)
    split = args.split if args.split else None
    data = load_windowed(args.name, args.data_root, in_steps=args.in_steps, out_steps=args.out_steps,
                         split=split, max_steps=args.max_steps)
    info = data.info()
    info["split"] = list(split or spec["split"])
    info["format"] = spec["format"]
    info["in_steps"], info["out_steps"] = data.in_steps, data.out_steps
    info["files"] = [str(p) for p in data.raw.files]
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            print(f"{k:<18} {v}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Check a new data-set YAML (schema, files, load, graph) and print what ``data info`` would."""
    from pathlib import Path

    from stbench.yamlio import YamlError, load_yaml_strict

    from . import load_spec, truncate
    from .file_sets import expanded_specs
    from .formats import missing_files_error
    from .graph_options import refit_for_protocol
    from .protocol import WindowedData
    from .registry import EXTRA_DIRS_ENV, load_specs, resolve_data_root, spec_files, validate_spec

    path = Path(args.path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected a data-set YAML, e.g. my_data/MY-SET.yaml)")
    registered = load_specs()  # also registers the formats
    try:
        spec = validate_spec(load_yaml_strict(path), path)
    except YamlError as exc:
        raise DataError(" | ".join(ln.strip() for ln in str(exc).splitlines() if ln.strip())) from None
    own = "the format's own"
    checks = [f"schema   {path}: format {spec['format']}, split {spec['split']}, "
              f"graph {spec['graph'].get('kind') or own}"]
    root = resolve_data_root(args.data_root)
    paths = spec_files(spec, args.data_root)
    missing = missing_files_error(spec["name"], paths, expanded_specs(spec, paths), root)
    if missing is not None:
        raise missing
    checks.append(f"files    {len(paths)} under {root / spec['folder']}")
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        raw = truncate(load_spec(spec, args.data_root), args.max_steps)
    warned = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    raw = refit_for_protocol(raw, args.in_steps, args.out_steps, spec["split"])
    data = WindowedData(raw, in_steps=args.in_steps, out_steps=args.out_steps, split=spec["split"])
    rec = raw.extra.get("graph") or {}
    checks.append(f"loads    {raw.num_nodes} nodes x {raw.num_steps} steps, "
                  f"{100 * (1 - data.mask.float().mean().item()):.2f} % missing")
    checks.append(f"graph    {rec.get('kind', own)}: "
                  f"{data.info()['graph_edges']} directed edges"
                  + (f", fitted on steps 0..{rec['train_steps'] - 1}" if "train_steps" in rec else ""))
    info = data.info()
    info["split"] = list(spec["split"])
    info["format"] = spec["format"]
    info["in_steps"], info["out_steps"] = data.in_steps, data.out_steps
    info["files"] = [str(p) for p in data.raw.files]
    same = spec["name"] in registered and Path(registered[spec["name"]]["_source"]).resolve() == path.resolve()
    note = (f"registered as {spec['name']}" if same else
            f"a registered data set is also named {spec['name']}; registering this YAML overrides it"
            if spec["name"] in registered else None)
    if args.json:
        print(json.dumps({"checks": checks, "warnings": warned, "note": note, "info": info}, indent=2))
        return 0
    for line in checks:
        print(f"ok  {line}")
    for line in warned:
        print(f"WARNING  {line}")
    print()
    for k, v in info.items():
        print(f"{k:<18} {v}")
    if note:
        print(f"\nnote: {note}")
    if not same:
        print(f"\nto use it: python run_benchmark.py run SUITE.yaml --dataset-config {path.parent} "
              f"(or set {EXTRA_DIRS_ENV}={path.parent})")
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    """Fetch every missing file of NAME into the data root."""
    from .download import download_dataset

    for st in download_dataset(args.name, args.data_root, force=args.force):
        print(f"{st.status:<11} {st.path}  sha256 {st.sha256}" + (f"  ({st.message})" if st.message else ""))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Check size and sha256 of NAME's present files; exit 1 on any mismatch or missing file."""
    from .download import verify_dataset

    bad = 0
    for st in verify_dataset(args.name, args.data_root):
        bad += st.status in ("mismatch", "missing")
        note = "  (no sha256 in the YAML: could not verify)" if st.status == "unverified" else ""
        print(f"{st.status:<11} {st.path}" + (f"  sha256 {st.sha256}" if st.sha256 else "") + note
              + (f"\n            {st.message}" if st.message else ""))
    return 1 if bad else 0


def add_data_commands(subparsers) -> None:
    """Add the ``data`` command and its sub-commands to an argparse subparsers object."""
    p = subparsers.add_parser("data", help="list, inspect, download and verify data sets",
                              description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    q = sub.add_parser("list", help="registered data sets and whether their files are present")
    q.add_argument("--json", action="store_true", help="print JSON")
    _root_arg(q)
    q.set_defaults(func=_guarded(cmd_list))

    q = sub.add_parser("info", help="nodes, steps, windows, missing fraction, graph edges of a data set")
    q.add_argument("name")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.add_argument("--in-steps", type=int, default=12)
    q.add_argument("--out-steps", type=int, default=12)
    q.add_argument("--split", type=float, nargs=3, default=None, metavar=("TRAIN", "VAL", "TEST"))
    q.add_argument("--max-steps", type=int, default=None, help="keep only the first K steps")
    _root_arg(q)
    q.set_defaults(func=_guarded(cmd_info))

    q = sub.add_parser("check", help="validate a new data-set YAML: schema, files, load, graph; then its info")
    q.add_argument("path", metavar="PATH.yaml", help="the data-set YAML to check (need not be registered)")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.add_argument("--in-steps", type=int, default=12)
    q.add_argument("--out-steps", type=int, default=12)
    q.add_argument("--max-steps", type=int, default=None, help="keep only the first K steps")
    _root_arg(q)
    q.set_defaults(func=_guarded(cmd_check))

    q = sub.add_parser("download", help="fetch a data set's published files (resumable, checked)")
    q.add_argument("name")
    q.add_argument("--force", action="store_true", help="fetch again even if the files are present")
    _root_arg(q)
    q.set_defaults(func=_guarded(cmd_download))

    q = sub.add_parser("verify", help="sha256 of a data set's present files against its YAML")
    q.add_argument("name")
    _root_arg(q)
    q.set_defaults(func=_guarded(cmd_verify))
