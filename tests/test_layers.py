"""Layers only look down: nothing under datasets/, models/ or pruning/ imports from benchmarks/
(lazy imports inside functions included), and stbench's base modules import none of the four."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOWER = ("datasets", "models", "pruning")


def _imports(path: Path):
    """(line, module) of every import in the file, at any depth (functions, classes, try blocks)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    pkg = path.parent.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against stbench.<pkg>
                parts = ["stbench", pkg][: max(0, 2 - (node.level - 1))]
                yield node.lineno, ".".join(parts + ([node.module] if node.module else []))
            elif node.module:
                yield node.lineno, node.module
                for a in node.names:  # from stbench import benchmarks
                    yield node.lineno, f"{node.module}.{a.name}"
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            yield node.lineno, str(node.args[0].value)


def _upward(pkgs, forbidden):
    bad = []
    for pkg in pkgs:
        for path in sorted((REPO / pkg).rglob("*.py")):
            for line, mod in _imports(path):
                if any(mod == f or mod.startswith(f + ".") for f in forbidden):
                    bad.append(f"{path.relative_to(REPO)}:{line}: imports {mod}")
    return bad


def test_lower_layers_do_not_import_benchmarks():
    bad = _upward(LOWER, ("stbench.benchmarks", "benchmarks"))
    assert not bad, "datasets/, models/ and pruning/ must not import benchmarks:\n" + "\n".join(bad)


def test_the_scan_sees_lazy_imports(tmp_path):
    """The scan itself: an import inside a function and an importlib call are both found."""
    f = tmp_path / "pruning" / "x.py"
    f.parent.mkdir()
    f.write_text("def f():\n    from stbench.benchmarks.config import pruner_defaults\n"
                 "    import importlib\n    importlib.import_module('stbench.benchmarks.engine')\n"
                 "from stbench import benchmarks\n")
    mods = [m for _, m in _imports(f)]
    assert "stbench.benchmarks.config" in mods and "stbench.benchmarks.engine" in mods
    assert "stbench.benchmarks" in mods


def test_base_modules_import_no_subpackage():
    bad = []
    for path in sorted((REPO / "stbench").glob("*.py")):
        for line, mod in _imports(path):
            if mod.split(".")[:2] in (["stbench", s] for s in ("benchmarks", "datasets", "models", "pruning")):
                bad.append(f"{path.relative_to(REPO)}:{line}: imports {mod}")
    assert not bad, "\n".join(bad)
