"""Engine subcommands: run, report, compare, list, perf."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


#: run flags that override the suite's ``launcher:`` block (argparse dest = block key)
LAUNCH_FLAGS = ("workers", "gpus", "isolate", "cluster", "partition", "time_min", "gpus_per_job", "cpus_per_job",
                "tasks_per_job", "mem_gb", "array_parallelism", "account", "qos", "constraint")


def _launch_overrides(args) -> dict:
    over = {k: getattr(args, k, None) for k in LAUNCH_FLAGS}
    if over["gpus"] == []:  # bare --gpus: every visible GPU
        over["gpus"] = "all"
    return over


def _cmd_run(args) -> int:
    from stbench.benchmarks import distributed
    from stbench.benchmarks.config import ConfigError
    from stbench.benchmarks.runner import StoreFull, run_suite
    from stbench.datasets.base import DataError

    if args.dataset_config:  # the registry reads the variable on every lookup
        from stbench.datasets.registry import EXTRA_DIRS_ENV
        os.environ[EXTRA_DIRS_ENV] = os.pathsep.join(
            [str(Path(d).resolve()) for d in args.dataset_config] + [os.environ.get(EXTRA_DIRS_ENV, "")]).rstrip(os.pathsep)
    if not args.until_resolved and (args.margin is not None or args.max_seeds != 10):
        print("error: --margin and --max-seeds go with --until-resolved (the report's margin: the suite's "
              "report: block, or report DIR --margin)", file=sys.stderr)
        return 2
    try:
        if args.until_resolved:
            from stbench.benchmarks.until_resolved import run_until_resolved
            res = run_until_resolved(args.suite, margin=args.margin, max_seeds=args.max_seeds, out=args.out,
                                     profile=args.profile, only=args.only, data_root=args.data_root,
                                     retry_failed=args.retry_failed, report=not args.no_report)
            return 1 if res.get("failed") or res.get("lost") else 0
        with distributed.session():  # joins the process group under torchrun, else nothing
            res = run_suite(args.suite, profile=args.profile, seeds=args.seeds, only=args.only,
                            dry_run=args.dry_run, out=args.out, data_root=args.data_root,
                            retry_failed=args.retry_failed, report=not args.no_report,
                            launcher=args.launcher, launch=_launch_overrides(args), wait=not args.no_wait,
                            baselines=args.baselines, rerun=args.rerun)
    except (ConfigError, DataError) as e:
        if os.environ.get("RANK", "0") == "0":  # under torchrun, say it once
            print(f"error: {e}", file=sys.stderr)
        return 2
    except StoreFull as e:  # the documented line is the last line (nothing runs after it)
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 1 if res.get("failed") or res.get("lost") else 0


#: what ``report`` and ``compare`` raise for a damaged results directory (bad input: exit 2)
BAD_RESULTS = (ValueError, KeyError, TypeError, FileNotFoundError)


def _cmd_migrate(args) -> int:
    from stbench.benchmarks.migrate import migrate_dir

    if not (Path(args.dir) / "runs").is_dir():
        print(f"error: {args.dir} holds no runs/ directory", file=sys.stderr)
        return 2
    res = migrate_dir(args.dir, data_root=args.data_root)
    for line in res["mismatch"]:
        print(f"not migrated: {line}")
    print(f"{len(res['migrated'])} run(s) given an identity.json, {len(res['current'])} already had one, "
          f"{len(res['mismatch'])} not migrated, {len(res['skipped'])} skipped (no config.yaml/env.json)")
    return 1 if res["mismatch"] else 0


def _cmd_report(args) -> int:
    from stbench.benchmarks.report import rules_of_args
    from stbench.benchmarks.runner import make_report
    from stbench.benchmarks.store import ResultsStore

    out = Path(args.dir)
    if not (out / "runs").is_dir() and not (out / "results.csv").exists():
        print(f"error: {out} holds no runs/ directory nor results.csv", file=sys.stderr)
        return 2
    try:
        rules = rules_of_args(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        if (out / "runs").is_dir():
            ResultsStore(out).write_results_csv()
        make_report(out, rules=rules)
    except BAD_RESULTS as e:
        print(f"error: {e.args[0] if isinstance(e, KeyError) and e.args else e}", file=sys.stderr)
        return 2
    return 0


def _cmd_list(args) -> int:
    from stbench import datasets
    from stbench import models
    from stbench.pruning.base import pruner_names

    from stbench.datasets.registry import broken_datasets

    from stbench.plugins import entry_point_names
    info = {"datasets": datasets.dataset_names(),
            "models": sorted(set(models.MODELS.names()) | set(entry_point_names(models.ENTRY_POINT_GROUP))),
            "strategies": pruner_names()}  # with installed packages' entry points (stbench.pruners)
    broken = broken_datasets()
    if args.json:
        print(json.dumps({**info, "broken_datasets": broken}, indent=2))
    else:
        for k, v in info.items():
            print(f"{k}: {', '.join(v)}")
        for name, why in sorted(broken.items()):
            print(f"broken data set {name}: {why}")
    return 0


def _cmd_perf(args) -> int:
    if args.what == "models":
        from stbench.benchmarks import perf_models
        res = perf_models.measure_models(names=args.models, batch_size=args.batch_size,
                                         iters=args.iters, threads=args.threads)
    elif args.what == "scale":  # LargeST-sized synthetic data: data bytes, pruner setup, model steps
        from stbench.benchmarks import perf_scale
        from stbench.benchmarks.config import REPO
        res = perf_scale.measure_scale(threads=args.threads or 2,
                                       say=lambda m: print(m, file=sys.stderr, flush=True))
        args.out = args.out or str(REPO / "results" / "perf" / "scale.json")
    else:
        from stbench.benchmarks import perf_pruning
        res = perf_pruning.measure_pruning(strategies=args.strategies, epochs=args.epochs,
                                           threads=args.threads, data_root=args.data_root)
    text = json.dumps(res, indent=2, sort_keys=True)
    if args.out:
        from stbench.benchmarks.store import atomic_write_text
        atomic_write_text(Path(args.out), text + "\n")
    if args.json or not args.out:
        print(text)
    return 0


def _cmd_compare(args) -> int:
    from stbench.benchmarks.compare import compare_dirs, one_sided_lines, summary_line

    for d in (args.a, args.b):
        if not (Path(d) / "runs").is_dir():
            print(f"error: {d} holds no runs/ directory", file=sys.stderr)
            return 2
    try:
        res = compare_dirs(args.a, args.b, rtol=args.rtol)
    except BAD_RESULTS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for line in one_sided_lines(res, args.a, args.b):
        print(line)
    if not res["common"]:
        print(f"error: no finished run is in both {args.a} and {args.b}", file=sys.stderr)
        return 2
    for run_id in res["common"]:
        diffs = res["different"].get(run_id)
        print(f"{'identical' if not diffs else 'DIFFERENT':9s} {run_id}")
        for key, va, vb in diffs or ():
            print(f"    {key}: {va!r} vs {vb!r}")
    n_diff = len(res["different"])
    print(summary_line(res, args.a, args.b, args.rtol))
    return 1 if n_diff else 0


def add_engine_commands(sub) -> None:
    p = sub.add_parser("run", help="run a YAML suite (a grid of runs), resumably, then report",
                       description="Run every pending cell of SUITE.yaml; finished cells are skipped.")
    p.add_argument("suite", help="suite YAML, e.g. configs/quick.yaml")
    p.add_argument("--profile", choices=("smoke", "cpu", "paper"), help="override the suite's profile")
    p.add_argument("--seeds", type=int, nargs="+", help="override the seed list")
    p.add_argument("--only", action="append", metavar="KEY=VALUE[,KEY=VALUE]",
                   help="restrict the grid (keys: dataset, model, strategy, pruner, ratio, budget, seed, "
                        "experiment, optimizer; '|' separates alternatives; budget=none: the ratio cells); "
                        "may repeat")
    p.add_argument("--dry-run", action="store_true", help="list the grid with each cell's status; run nothing")
    p.add_argument("--out", help="results directory (default results/<suite name>)")
    p.add_argument("--data-root", help="data root (default: $STBENCH_DATA, else ./data)")
    p.add_argument("--dataset-config", action="append", metavar="DIR",
                   help="a directory of data-set YAMLs to register (adds to $STBENCH_DATASET_CONFIGS); may repeat")
    p.add_argument("--retry-failed", action="store_true", help="rerun cells recorded as failed")
    p.add_argument("--rerun", action="store_true",
                   help="run the selected cells (see --only) again even when finished; their old run "
                        "directories move to OUT/replaced/")
    p.add_argument("--baselines", metavar="DIR",
                   help="a results directory (e.g. results/budget_cpu): its finished cells of this suite "
                        "with the same identity are copied in, never rerun; only the other cells run "
                        "(docs/own_method.md)")
    p.add_argument("--no-report", action="store_true", help="skip the report at the end")
    u = p.add_argument_group(
        "seeds until resolved (README: 'Seeds until resolved')",
        "Add seeds to the budget cells whose comparisons with full@1 and the control are not resolved, "
        "until their intervals' half-width <= margin / 2 or the cap; local launcher, one run at a time.")
    u.add_argument("--until-resolved", action="store_true", help="add seeds to unresolved cells (see above)")
    u.add_argument("--margin", type=float, default=None, metavar="PCT",
                   help="equivalence margin delta in %% of full@1's MAE (default: the suite's report: margin, "
                        "else 1)")
    u.add_argument("--max-seeds", type=int, default=10, metavar="K", help="at most K seeds per cell (default 10)")
    g = p.add_argument_group(
        "launching (defaults: the suite's launcher: block; see docs/scaling.md)",
        "One run on K processes (DDP): torchrun --nproc_per_node=K run_benchmark.py run SUITE.yaml")
    g.add_argument("--launcher", choices=("local", "submitit"), default="local",
                   help="local: this machine (default: one run after another in this process); "
                        "submitit: one SLURM job per pending cell, as a job array")
    g.add_argument("--workers", type=int, metavar="K",
                   help="local: K worker processes, one per GPU (the first K visible), or K CPU workers "
                        "sharing the cores when no GPU is visible")
    g.add_argument("--gpus", nargs="*", metavar="ID",
                   help="local: one worker per GPU, CUDA_VISIBLE_DEVICES set per worker; no IDs = every "
                        "visible GPU")
    g.add_argument("--isolate", action="store_true", default=None,
                   help="local: one cell at a time, each in a fresh process (no run inherits process state "
                        "from earlier runs)")
    g.add_argument("--cluster", choices=("slurm", "local", "debug"),
                   help="submitit: slurm (default), local (jobs as local processes, for tests) or debug "
                        "(in this process)")
    g.add_argument("--partition", help="submitit: SLURM partition")
    g.add_argument("--time-min", type=int, metavar="MIN", help="submitit: time limit per job in minutes")
    g.add_argument("--gpus-per-job", type=int, metavar="N", help="submitit: GPUs per job")
    g.add_argument("--cpus-per-job", type=int, metavar="N", help="submitit: CPUs per job")
    g.add_argument("--tasks-per-job", type=int, metavar="N",
                   help="submitit: processes per job; > 1 trains each run with DDP over N ranks")
    g.add_argument("--mem-gb", type=float, metavar="GB", help="submitit: memory per job")
    g.add_argument("--array-parallelism", type=int, metavar="N",
                   help="submitit: at most N jobs of the array at once")
    g.add_argument("--account", help="submitit: SLURM account")
    g.add_argument("--qos", help="submitit: SLURM QOS")
    g.add_argument("--constraint", help="submitit: SLURM node constraint")
    g.add_argument("--no-wait", action="store_true",
                   help="submitit: return once submitted (then: report DIR when the jobs are done)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("report", help="tables and figures from a results directory",
                       description="Rebuild results.csv from DIR/runs (if present), then tables and figures.")
    p.add_argument("dir", help="results directory (holds runs/ and results.csv)")
    from stbench.benchmarks.report import add_rules_arguments
    add_rules_arguments(p)
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("compare", help="do two results directories hold the same metrics for the same runs?",
                       description="Pair the finished runs of A and B by identity (identity.json: config + data; "
                                   "the run id for runs without one); compare test metrics, best "
                                   "epoch, sample passes, steps and the selection digest (not timings). "
                                   "Exit 0 when every common run matches.")
    p.add_argument("a", help="results directory, e.g. results/reproduce_cpu")
    p.add_argument("b", help="results directory of a rerun (run ... --out B)")
    p.add_argument("--rtol", type=float, default=0.0, help="relative tolerance (default 0: exact)")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("migrate", help="give runs made before data identities an identity.json",
                       description="For each run directory of DIR without identity.json, check that the data "
                                   "files it read (env.json) are the data set's files now, byte for byte, and "
                                   "record its identity (config + data). Exit 1 if any run's data differs.")
    p.add_argument("dir", help="results directory (holds runs/)")
    p.add_argument("--data-root", help="data root (default: $STBENCH_DATA, else ./data)")
    p.set_defaults(func=_cmd_migrate)

    p = sub.add_parser("list", help="registered data sets, models and strategies")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("perf", help="throughput benchmarks (not tests)",
                       description="perf models: train/inference samples per second per model; "
                                   "perf pruning: pruner overhead and wall-clock efficiency per strategy; "
                                   "perf scale: LargeST-GLA/CA-sized synthetic data: data bytes, each pruner's "
                                   "setup and per-epoch cost, model steps and GPU memory "
                                   "(writes results/perf/scale.json).")
    p.add_argument("what", choices=("models", "pruning", "scale"))
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--out", help="also write the JSON to this file")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--models", nargs="+", help="perf models: which models (default all)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--strategies", nargs="+", help="perf pruning: which strategies (default all)")
    p.add_argument("--epochs", type=int, default=4, help="perf pruning: epochs per measured run")
    p.add_argument("--data-root", help="data root")
    p.set_defaults(func=_cmd_perf)
