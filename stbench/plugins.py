"""Objects from outside the repository: import paths and entry points (strategies, models).

A name that is not registered by the suite itself is resolved, in this order:

- an **import path** ``package.module:Attr`` (``Attr`` may be dotted, ``Outer.Inner``): the
  module is imported (from ``sys.path``, plus the directories given to :func:`add_paths`,
  e.g. the suite file's directory) and the attribute taken;
- an **entry point** of the given group (``stbench.pruners``, ``stbench.models``) declared
  by an installed distribution, e.g. in its pyproject.toml::

      [project.entry-points."stbench.pruners"]
      lossvar = "my_pkg.lossvar:LossVar"

The object is then registered in the registry under that name (an alias: a class that
registered itself under its own name keeps it), so every later lookup in the process is a
plain registry lookup. :class:`PluginInfo` says where it came from: the directory to put on
``sys.path`` in a worker process (import paths), the distribution and version (entry
points) and a sha256 of its code (:func:`code_digest`), which becomes part of the run's
identity (benchmarks/config.py), so editing the module makes its cells pending.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.metadata as md
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

__all__ = ["PluginError", "PluginInfo", "is_import_path", "resolve", "entry_point_names", "add_paths",
           "code_digest"]


class PluginError(KeyError):
    """An import path or entry point that cannot be resolved (the message says why)."""

    def __str__(self) -> str:  # KeyError quotes its message; this one reads as a sentence
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class PluginInfo:
    ref: str                       # the name as given (import path or entry-point name)
    kind: str                      # "import" | "entry_point"
    module: str                    # the module that defines the object
    path: Optional[str]            # sys.path entry that makes ``module`` importable (import paths)
    dist: Optional[str] = None     # distribution name==version (entry points)
    digest: str = ""               # sha256 of the code (code_digest)


_INFO: Dict[Tuple[str, str], PluginInfo] = {}


def is_import_path(name: str) -> bool:
    """True for ``module:attr`` (the form that names an object outside every registry)."""
    return ":" in str(name)


def add_paths(paths) -> None:
    """Put ``paths`` (directories) at the end of ``sys.path`` if they are not on it yet: where
    a worker process finds an outside module that its parent found there."""
    for p in paths or ():
        p = str(p)
        if p and p not in sys.path:
            sys.path.append(p)


def entry_point_names(group: str) -> List[str]:
    """Names declared under entry-point ``group`` by the installed distributions."""
    return sorted({ep.name.lower() for ep in md.entry_points(group=group)})


def _import_root(module, modname: str) -> Optional[str]:
    """The sys.path directory from which ``module`` (named ``modname``) was imported."""
    f = getattr(module, "__file__", None)
    if not f:
        return None
    p = Path(f).resolve()
    depth = modname.count(".") + (1 if p.name == "__init__.py" else 0)
    root = p.parent
    for _ in range(depth):
        root = root.parent
    return str(root)


def _code_files(module) -> List[Path]:
    """The source files whose text makes the object's behaviour: every .py file of the
    top-level package the module belongs to (helpers it imports from its own package
    included), or the module's file alone for a top-level module."""
    f = getattr(module, "__file__", None)
    if not f:
        return []
    p = Path(f).resolve()
    top = module.__name__.split(".")[0]
    pkg = sys.modules.get(top)
    pkg_file = getattr(pkg, "__file__", None) if pkg is not None else None
    if pkg_file and Path(pkg_file).name == "__init__.py":
        base = Path(pkg_file).resolve().parent
        return sorted(q for q in base.rglob("*.py") if "__pycache__" not in q.parts)
    return [p]


def code_digest(module, extra: str = "") -> str:
    """sha256 over (relative path, content) of :func:`_code_files` (plus ``extra``)."""
    files = _code_files(module)
    h = hashlib.sha256(extra.encode())
    base = files[0].parent if len(files) == 1 else Path(sys.modules[module.__name__.split(".")[0]].__file__).resolve().parent
    for q in files:
        h.update(str(q.relative_to(base)).encode() + b"\0")
        h.update(hashlib.sha256(q.read_bytes()).digest())
    return h.hexdigest()


def _get_attr(obj, dotted: str, ref: str, kind: str):
    for part in dotted.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError(f"{kind} {ref!r}: {getattr(obj, '__name__', obj)!s} has no attribute {part!r}") from None
    return obj


def _from_import_path(ref: str, kind: str):
    modname, _, attr = str(ref).partition(":")
    if not modname or not attr:
        raise PluginError(f"{kind} {ref!r}: an import path is 'package.module:Name'")
    try:
        module = importlib.import_module(modname)
    except ImportError as e:
        raise PluginError(f"{kind} {ref!r}: cannot import module {modname!r} ({e}); it must be on "
                          f"sys.path: install its package, set PYTHONPATH, or keep it next to the suite "
                          f"file") from None
    obj = _get_attr(module, attr, ref, kind)
    mod = sys.modules.get(getattr(obj, "__module__", modname), module)
    info = PluginInfo(ref=ref, kind="import", module=mod.__name__, path=_import_root(mod, mod.__name__),
                      digest=code_digest(mod))
    return obj, info


def _from_entry_point(ref: str, group: str, kind: str):
    eps = [ep for ep in md.entry_points(group=group) if ep.name.lower() == str(ref).lower()]
    if not eps:
        return None
    ep = eps[0]
    try:
        obj = ep.load()
    except Exception as e:  # noqa: BLE001 - anything the plugin's import raises
        raise PluginError(f"{kind} {ref!r}: entry point {ep.value!r} (group {group}) does not load: "
                          f"{type(e).__name__}: {e}") from None
    mod = sys.modules.get(getattr(obj, "__module__", ""), None) or importlib.import_module(ep.module)
    dist = f"{ep.dist.name}=={ep.dist.version}" if getattr(ep, "dist", None) is not None else None
    info = PluginInfo(ref=str(ref).lower(), kind="entry_point", module=mod.__name__, path=None, dist=dist,
                      digest=code_digest(mod, extra=dist or ""))
    return obj, info


def resolve(name: str, group: str, registry, kind: str, base: Optional[type] = None):
    """The object registered as ``name`` in ``registry``, else the import path or entry point
    ``name`` (then registered there as ``name``). Unknown: PluginError (a KeyError) listing the
    registered names and the entry points of ``group``."""
    if name in registry:
        return registry.get(name)
    if is_import_path(name):
        obj, info = _from_import_path(str(name), kind)
    else:
        found = _from_entry_point(str(name), group, kind)
        if found is None:
            choices = sorted(set(registry.names()) | set(entry_point_names(group)))
            raise PluginError(f"unknown {kind} {name!r}; valid choices: {', '.join(choices)}; or an "
                              f"import path 'package.module:Class', or an installed package's entry "
                              f"point in group {group!r} (docs/own_method.md)")
        obj, info = found
    if base is not None and not (inspect.isclass(obj) and issubclass(obj, base)):
        raise PluginError(f"{kind} {name!r}: {obj!r} is not a subclass of {base.__module__}.{base.__name__}")
    if "registry_name" not in vars(obj) and inspect.isclass(obj):
        obj.registry_name = info.ref.lower()  # its random streams and messages use this name
    registry.alias(str(name), obj)
    _INFO[(group, str(name).lower())] = info
    return obj


def info(name: str, group: str) -> Optional[PluginInfo]:
    """Where ``name`` came from when :func:`resolve` loaded it from outside (else None)."""
    return _INFO.get((group, str(name).lower()))
