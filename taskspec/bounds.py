"""Bounds on what a task file may hold, checked before the model sees it.

A YAML file is read with a loader that refuses duplicate keys, nesting deeper than
:data:`MAX_DEPTH` and integers longer than :data:`MAX_INT_DIGITS`; then :func:`check_bounds`
walks the data once (shared nodes once: a YAML alias is counted at its full expanded size,
without expanding it) and refuses a spec that expands past :data:`MAX_SPEC_BYTES`, a cycle,
an integer beyond 64 bits and a string holding a NUL.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

from taskspec.errors import SpecIssue

MAX_DEPTH = 32
MAX_SPEC_BYTES = 1024 * 1024
MAX_INT = 2**63 - 1
MAX_INT_DIGITS = 20
MAX_ISSUES = 10
MERGE_TAG = "tag:yaml.org,2002:merge"


class TooLarge(Exception):
    """The data breaks a structural bound; ``issue`` says which and where."""

    def __init__(self, issue: SpecIssue):
        super().__init__(issue.message)
        self.issue = issue


class BoundedLoader(yaml.SafeLoader):
    """Safe YAML with duplicate keys refused and depth and integer length bounded."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()
                raise ConstructorError(None, None, f"nesting deeper than {MAX_DEPTH} levels; a task "
                                       "file is a few levels of keys and lists", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _value in node.value:
                if key_node.tag == MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:
                    continue  # unhashable: the base class says so with its position
                if first is not key_node:
                    raise ConstructorError(
                        "while reading a mapping", node.start_mark,
                        f"duplicate key '{key}' (first at line {first.start_mark.line + 1}); "
                        "keep one of them", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> int:
        digits = sum(ch.isdigit() for ch in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise ConstructorError(None, None, f"an integer of {digits} digits is too large "
                                   f"(at most {MAX_INT})", node.start_mark)
        return super().construct_yaml_int(node)


BoundedLoader.add_constructor("tag:yaml.org,2002:int", BoundedLoader.construct_yaml_int)


def json_object(text: str) -> Any:
    """``json.loads`` with the same rules: no duplicate keys, no overlong integers."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise ValueError(f"duplicate key '{key}'; keep one of them")
            out[key] = value
        return out

    def integer(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_INT_DIGITS:
            raise ValueError(f"an integer of {len(digits.lstrip('-'))} digits is too large "
                             f"(at most {MAX_INT})")
        return int(digits)

    return json.loads(text, object_pairs_hook=pairs, parse_int=integer)


def check_bounds(data: Any) -> list[SpecIssue]:
    """Issues with field paths; a structural one (size, depth, cycle) raises :class:`TooLarge`."""
    walker = _Walker()
    size = walker.size(data, [], set())
    if size > MAX_SPEC_BYTES:
        raise TooLarge(SpecIssue("", f"the spec expands to more than {MAX_SPEC_BYTES} bytes "
                                 "(YAML aliases count at their full size); make it smaller"))
    return walker.issues


class _Walker:
    def __init__(self) -> None:
        self.sizes: dict[int, int] = {}
        self.issues: list[SpecIssue] = []

    def size(self, value: Any, path: list[str], open_: set[int]) -> int:
        if isinstance(value, (dict, list)):
            return self._container(value, path, open_)
        self._scalar(value, path)
        return len(str(value)) if isinstance(value, (str, int, float)) else 8

    def _container(self, value: dict | list, path: list[str], open_: set[int]) -> int:
        key = id(value)
        if key in self.sizes:
            return self.sizes[key]
        where = _join(path)
        if key in open_:
            raise TooLarge(SpecIssue(where, "refers to itself (a YAML alias inside its own anchor)"))
        if len(path) >= MAX_DEPTH:
            raise TooLarge(SpecIssue(where, f"nesting deeper than {MAX_DEPTH} levels"))
        open_.add(key)
        total = 2
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for name, item in items:
            if isinstance(value, dict):
                self._scalar(name, [*path, str(name)[:64]])
            total += 2 + len(str(name)) + self.size(item, [*path, _part(value, name)], open_)
            if total > MAX_SPEC_BYTES:
                break
        open_.discard(key)
        self.sizes[key] = total
        return total

    def _scalar(self, value: Any, path: list[str]) -> None:
        problem = None
        if isinstance(value, bool):
            return
        if isinstance(value, int) and not -MAX_INT - 1 <= value <= MAX_INT:
            problem = f"the number is too large (at most {MAX_INT})"
        elif isinstance(value, str) and "\x00" in value:
            problem = "contains a NUL character (\\0); remove it"
        if problem and len(self.issues) < MAX_ISSUES:
            self.issues.append(SpecIssue(_join(path), problem))


def _part(container: dict | list, name: Any) -> str:
    return str(name)[:64] if isinstance(container, dict) else f"[{name}]"


def _join(path: list[str]) -> str:
    """``verl.train_files[0]``: keys joined with dots, list indexes in brackets."""
    return "".join(p if p.startswith("[") or not i else f".{p}" for i, p in enumerate(path))
