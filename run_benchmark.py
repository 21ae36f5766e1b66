#!/usr/bin/env python
"""The suite's one CLI; see ``python run_benchmark.py --help``."""
import sys

from stbench.benchmarks.cli import main

if __name__ == "__main__":
    sys.exit(main())
