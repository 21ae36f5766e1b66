"""A tiny name -> object registry used by data formats, models and pruners.

Usage::

    MODELS = Registry("model")

    @MODELS.register("gwnet")
    class GWNet(nn.Module): ...

    MODELS.get("gwnet")  # -> GWNet; unknown names raise KeyError listing the choices
"""
from __future__ import annotations

from typing import Callable, Dict, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: Dict[str, T] = {}
        self._aliases: set = set()  # names added by alias(): resolvable, not listed by names()

    def register(self, name: str) -> Callable[[T], T]:
        key = name.lower()

        def deco(obj: T) -> T:
            if key in self._items and self._items[key] is not obj:
                raise KeyError(f"{self.kind} {name!r} is registered twice")
            self._items[key] = obj
            try:
                setattr(obj, "registry_name", key)
            except (AttributeError, TypeError):
                pass
            return obj

        return deco

    def alias(self, name: str, obj: T) -> T:
        """Register ``obj`` under ``name`` too, keeping its own ``registry_name`` (an object
        loaded from an import path or an entry point, stbench.plugins)."""
        key = str(name).lower()
        if key in self._items and self._items[key] is not obj:
            raise KeyError(f"{self.kind} {name!r} is registered twice")
        self._items[key] = obj
        self._aliases.add(key)
        return obj

    def get(self, name: str) -> T:
        key = str(name).lower()
        if key not in self._items:
            raise KeyError(
                f"unknown {self.kind} {name!r}; valid choices: {', '.join(sorted(self._items))}"
            )
        return self._items[key]

    def names(self) -> list[str]:
        return sorted(k for k in self._items if k not in self._aliases)

    def __contains__(self, name: object) -> bool:
        return str(name).lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
