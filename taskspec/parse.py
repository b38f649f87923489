"""Parsing task files: safe YAML only, pydantic errors turned into field paths with fixes."""

from __future__ import annotations

import difflib
import json
from typing import Any

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from taskspec.bounds import BoundedLoader, TooLarge, check_bounds, json_object
from taskspec.errors import SpecError, SpecIssue
from taskspec.model import KINDS, CustomTask, TaskSpec, VerlTask

_ADAPTER: TypeAdapter = TypeAdapter(TaskSpec)


def load_spec(text: str, source: str = "task.yaml") -> VerlTask | CustomTask:
    """Parse YAML text into a task spec, or raise SpecError naming every problem."""
    try:
        data = yaml.load(text, Loader=BoundedLoader)  # noqa: S506 - a SafeLoader, bounded
    except yaml.constructor.ConstructorError as exc:
        where = _where(exc.problem_mark)
        problem = str(exc.problem)
        if "could not determine a constructor" in problem:
            problem = f"unsupported YAML tag{where}: {problem}; task files are plain data (no !! tags)"
        else:
            problem = f"{problem}{where}"
        raise SpecError(source, [SpecIssue("", problem)]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(source, [SpecIssue("", f"not valid YAML{_where(mark)}: {problem}")]) from exc
    return load_spec_data(data, source)


def load_spec_data(data: Any, source: str = "task.yaml") -> VerlTask | CustomTask:
    """Validate already-parsed data (a JSON body, a stored spec)."""
    if data is None:
        raise SpecError(source, [SpecIssue("", "the file is empty; a task needs at least kind, name")])
    if not isinstance(data, dict):
        raise SpecError(source, [SpecIssue("", f"a task is a mapping of keys, not a {type(data).__name__}")])
    try:
        issues = check_bounds(data)
    except TooLarge as exc:
        raise SpecError(source, [exc.issue]) from None
    if issues:
        raise SpecError(source, issues)
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        allowed = ", ".join(f"'{k}'" for k in KINDS)
        close = difflib.get_close_matches(str(kind), list(KINDS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        what = "is missing" if kind is None else f"'{kind}' is not a task kind"
        raise SpecError(source, [SpecIssue("kind", f"{what}; use one of {allowed}{hint}")])
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise SpecError(source, issues_from(exc, KINDS[kind])) from exc


def read_json(text: str, source: str = "task.json") -> Any:
    """Parse a JSON body with the rules YAML files follow (no duplicate keys, bounded); the
    data then goes to :func:`load_spec_data`. Text that is not JSON at all raises
    ``ValueError`` (a malformed request); JSON that breaks a bound raises SpecError."""
    try:
        return json_object(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: body is not valid JSON: {exc}") from None
    except RecursionError:
        raise SpecError(source, [SpecIssue("", "the JSON nests too deeply")]) from None
    except ValueError as exc:  # a duplicate key, an overlong integer
        raise SpecError(source, [SpecIssue("", str(exc))]) from None


def _where(mark: Any) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def issues_from(exc: ValidationError, model: type[BaseModel]) -> list[SpecIssue]:
    issues = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if p != "[key]"]  # a dict key's error: the key is the path
        if loc and loc[0] in KINDS:  # the discriminator's tag is noise in a path
            loc = loc[1:]
        path = ".".join(loc)
        issues.append(SpecIssue(path, _message(err, model, loc)))
    return issues


def _message(err: dict, model: type[BaseModel], loc: list[str]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        close = difflib.get_close_matches(loc[-1], allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed here: {', '.join(allowed)}"
        return f"unknown key; {hint}"
    if kind == "missing":
        return "is required"
    if kind == "string_type" and isinstance(err.get("input"), (bool, int, float)):
        written = json.dumps(err["input"])  # as YAML wrote it: true, 200, 0.5
        return f"must be a string; quote it: \"{written}\""
    if kind == "too_short" and err.get("ctx", {}).get("min_length") == 1:
        return "must not be empty"
    if kind in ("model_type", "dict_type"):
        return f"must be a mapping of keys (key: value), not {_yaml_type(err.get('input'))}"
    if kind == "list_type":
        return f"must be a list ([a, b]), not {_yaml_type(err.get('input'))}"
    message = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _yaml_type(value: Any) -> str:
    names = {bool: "true/false", int: "a number", float: "a number", str: "a string",
             list: "a list", dict: "a mapping", type(None): "empty"}
    return names.get(type(value), type(value).__name__)


def _fields_at(model: type[BaseModel], loc: list[str]) -> list[str]:
    """The field names allowed at ``loc`` inside ``model`` (for did-you-mean)."""
    current: Any = model
    for part in loc:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        current = next((a for a in getattr(annotation, "__args__", ()) if hasattr(a, "model_fields")),
                       annotation)
    return sorted(getattr(current, "model_fields", {}))


def spec_json_schema() -> dict:
    """The JSON schema of task files (the committed taskspec/schema.json is kept equal)."""
    return _ADAPTER.json_schema(mode="validation")
