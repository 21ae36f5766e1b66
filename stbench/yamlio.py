"""Strict YAML reading: a duplicate mapping key is an error, not a silent override.

PyYAML's ``safe_load`` keeps the last of two equal keys in a mapping, so a data-set or
suite YAML with ``threshold: 0.1`` written twice loads whatever came last without a
word. ``load_yaml_strict`` uses a ``yaml.SafeLoader`` subclass that refuses that, and
reports every problem as one ``YamlError`` line naming the file (and the line)::

    configs/datasets/X.yaml: line 12: duplicate key 'threshold' (first at line 9)
    configs/datasets/X.yaml: file not found
    configs/datasets/X.yaml: not valid YAML: mapping values are not allowed here (line 3, column 9)
    configs/datasets/X.yaml: expected a mapping at the top level, got list

Merge keys (``<<: *base``) keep their usual meaning: a key given explicitly beside a
merge overrides the merged one and is not a duplicate.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["YamlError", "StrictLoader", "load_yaml_strict", "loads_strict"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlError(ValueError):
    """A YAML file cannot be used; the one-line message names the file (and line, key)."""


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """Raised inside the loader; ``load_yaml_strict`` turns it into a ``YamlError``."""

    def __init__(self, key: Any, line: int, first_line: int):
        super().__init__(None, None, f"duplicate key {key!r}", None)
        self.key, self.line, self.first_line = key, line, first_line

    def __str__(self) -> str:
        return f"line {self.line}: duplicate key {self.key!r} (first at line {self.first_line})"


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that raises ``DuplicateKeyError`` on a repeated mapping key."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue  # SafeLoader itself reports an unhashable key
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise DuplicateKeyError(key, line, seen[key])
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _one_line(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as 'problem (line L, column C)'."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem:
        text = problem
        context = getattr(exc, "context", None)
        if context:
            text = f"{text} ({context})" if mark is None else f"{text}, {context}"
        if mark is not None:
            text += f" (line {mark.line + 1}, column {mark.column + 1})"
        return text
    return " ".join(str(exc).split())


def loads_strict(text: str, source: str = "<string>") -> Any:
    """Parse ``text`` with :class:`StrictLoader`; errors are ``YamlError`` naming ``source``."""
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - StrictLoader is a SafeLoader
    except DuplicateKeyError as exc:
        raise YamlError(f"{source}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise YamlError(f"{source}: not valid YAML: {_one_line(exc)}") from exc


def load_yaml_strict(path: str | Path) -> dict:
    """The top-level mapping of YAML file ``path`` (an empty file gives ``{}``).

    Raises ``YamlError`` when the file is missing, unreadable, not valid YAML, repeats a
    key in any mapping, or does not hold a mapping at the top level.
    """
    path = Path(path)
    if not path.is_file():
        raise YamlError(f"{path}: file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(f"{path}: not valid YAML: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise YamlError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    data = loads_strict(text, str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise YamlError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data
