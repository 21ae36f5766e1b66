"""stbench: data-efficient training of spatio-temporal forecasting models.

One namespace for the suite's packages, whose folders stay at the top of the
repository (the design's layout)::

    stbench.datasets    datasets/     loaders, the protocol, metrics
    stbench.models      models/       backbones
    stbench.pruning     pruning/      strategies (and the API for your own loop)
    stbench.benchmarks  benchmarks/   engine, grid runner, results store, reports

An installed wheel holds them under ``stbench/`` (``package-dir`` in pyproject.toml);
in a checkout (or an editable install) this package's search path also covers the
repository root, so ``stbench.datasets`` is the folder ``datasets/``. Nothing is
installed as a top-level ``datasets`` module, which is Hugging Face's name.
"""
from pathlib import Path as _Path

__version__ = "0.1.0"
SUBPACKAGES = ("datasets", "models", "pruning", "benchmarks")

_here = _Path(__file__).resolve().parent
if not (_here / "datasets").is_dir() and (_here.parent / "datasets" / "__init__.py").is_file():
    __path__.append(str(_here.parent))  # a checkout: stbench.<sub> is <repo>/<sub>
