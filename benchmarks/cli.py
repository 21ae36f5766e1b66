"""The one command line: ``python run_benchmark.py SUBCOMMAND ...``.

Subcommands are contributed by the packages (data, models) and the engine
(run, report, list, perf). With no arguments it runs ``configs/quick.yaml``.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, List, Optional

# Each entry: a function (subparsers) -> None that adds one or more subcommands whose
# parsers set ``func`` (args) -> int exit code.
_CONTRIBUTORS: List[Callable] = []


def _contributors() -> List[Callable]:
    from stbench.datasets.cli import add_data_commands
    from stbench.models.cli import add_models_commands

    out = [add_data_commands, add_models_commands]
    try:
        from stbench.benchmarks.commands import add_engine_commands
        out.append(add_engine_commands)
    except ImportError:  # engine commands not built yet
        pass
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="run_benchmark.py",
        description="Benchmark suite for data-efficient training of spatio-temporal forecasting models.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for add in _contributors():
        add(sub)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        if "run" in parser._subparsers._group_actions[0].choices:  # type: ignore[union-attr]
            argv = ["run", "configs/quick.yaml"]
        else:
            parser.print_help()
            return 0
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        import errno
        if e.errno != errno.ENOSPC:
            raise
        where = f" while writing {e.filename}" if e.filename else ""
        print(f"error: no space left on the device{where}: free space and run the command again "
              f"(finished runs are kept)", file=sys.stderr)
        return 1
