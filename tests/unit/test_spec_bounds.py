"""Bounds on task files (taskspec.bounds): refused with a field path, at once, never a crash."""

from __future__ import annotations

import time

import pytest

from taskspec import SpecError, load_spec, load_spec_data, read_json
from taskspec.bounds import MAX_SPEC_BYTES

BASE = "kind: custom\nname: x\ncode: /c\ncommand: [a]\n"


def issues(call) -> list[tuple[str, str]]:  # noqa: ANN001
    with pytest.raises(SpecError) as caught:
        call()
    return [(i.path, i.message) for i in caught.value.issues]


def test_a_self_referencing_alias_is_refused_not_a_recursion_error():
    [(path, message)] = issues(lambda: load_spec(BASE + "env: &e {A: *e}\n"))
    assert path == "env.A" and "refers to itself" in message


def test_an_alias_bomb_is_refused_in_linear_time():
    bomb = BASE + "x0: &a0 [" + '"' + "x" * 100 + '"]\n' + "".join(
        f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 12))
    started = time.monotonic()
    [(_path, message)] = issues(lambda: load_spec(bomb))
    assert f"expands to more than {MAX_SPEC_BYTES} bytes" in message
    assert time.monotonic() - started < 2  # 10^11 expanded entries, never expanded


def test_small_aliases_and_merge_keys_still_work():
    spec = load_spec(BASE.replace("command: [a]", "command: &c [a, b]") +
                     "env: {<<: {A: '1', B: '2'}, B: '3'}\n")
    assert spec.command == ["a", "b"] and spec.env == {"A": "1", "B": "3"}


def test_duplicate_keys_name_the_key_and_the_first_line():
    [(_path, message)] = issues(lambda: load_spec(BASE + "env: {A: '1'}\nenv: {B: '2'}\n"))
    assert "duplicate key 'env' (first at line 5)" in message and "line 6" in message
    [(_path, message)] = issues(lambda: load_spec_data(read_json('{"kind": "custom", "kind": "verl"}')))
    assert "duplicate key 'kind'" in message


def test_a_bad_json_body_is_a_value_error_not_a_spec_error():
    with pytest.raises(ValueError, match="not valid JSON") as caught:
        read_json('{"kind": ')
    assert not isinstance(caught.value, SpecError)


@pytest.mark.parametrize("data,path", [
    ({"kind": "custom", "name": "x", "code": "/c", "command": ["a"], "retry": {"max_attempts": 2**64}},
     "retry.max_attempts"),
    ({"kind": "custom", "name": "x", "code": "/c", "command": ["a"], "env": {"A": "b\x00"}}, "env.A"),
    ({"kind": "custom", "name": "x", "code": "/c", "command": ["a", "b\x00"]}, "command[1]"),
])
def test_values_no_system_can_hold_are_refused_with_their_path(data, path):
    assert path in [p for p, _m in issues(lambda: load_spec_data(data))]


def test_deep_nesting_stops_at_the_bound():
    deep: dict = {}
    node = deep
    for _ in range(200):
        node["a"] = {}
        node = node["a"]
    data = {"kind": "custom", "name": "x", "code": "/c", "command": ["a"], "env": deep}
    [(_path, message)] = issues(lambda: load_spec_data(data))
    assert "nesting deeper than" in message
