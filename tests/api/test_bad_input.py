"""Bad input is a 4xx at once, in the one error shape, and changes nothing (issue 10, item 5).

Every case here was a 500, a multi-second stall or a wrong answer before: a real server on a
real SQLite file, real HTTP.
"""

from __future__ import annotations

import socket
import sqlite3
import time

import httpx
import pytest

from tests.api.conftest import World


def error_of(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["request_id"] == response.headers["X-Request-ID"]
    return error


def count_tasks(world: World) -> int:
    return world.client("root").get("/v1/tasks").json()["total"]


def test_a_body_over_the_limit_is_refused_from_content_length_before_it_is_read(world):
    """413 while the client has sent only the headers: the server never waits for the body."""
    limit = world.settings.max_body_bytes
    host, port = world.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall((f"POST /v1/tasks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      f"{world.tokens['alice']}\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {50 * 1024 * 1024}\r\n\r\n").encode())
        reply = b""
        while chunk := sock.recv(65536):  # the server closes once it has answered
            reply += chunk
    reply = reply.decode()
    assert reply.startswith("HTTP/1.1 413"), reply
    assert '"code": "too_large"' in reply and str(limit) in reply and "ARGUS_MAX_BODY_BYTES" in reply
    assert count_tasks(world) == 0


def test_a_chunked_body_over_the_limit_is_refused_while_it_streams(world):
    sent = 0

    def chunks():  # noqa: ANN202 - no Content-Length: httpx sends it chunked
        nonlocal sent
        for _ in range(64):
            sent += 64 * 1024
            yield b" " * (64 * 1024)

    response = world.client("alice").post("/v1/tasks", content=chunks(),
                                           headers={"Content-Type": "application/json"})
    error = error_of(response, 413)
    assert error["code"] == "too_large"
    assert count_tasks(world) == 0


def test_a_body_under_the_limit_is_read(world):
    spec = world.spec("alice")
    response = world.client("alice").post("/v1/tasks", json={**spec, "env": {"PAD": "x" * 500_000}})
    assert response.status_code == 201, response.text


ALIAS_BOMB = """kind: custom
name: bomb
code: /nowhere
command: [a]
x0: &a0 ["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]
""" + "".join(f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9))


@pytest.mark.parametrize("body,ctype,path,needle", [
    (ALIAS_BOMB, "application/yaml", "", "expands to more than"),
    ("kind: custom\nname: a\nname: b\ncode: /c\ncommand: [a]\n", "application/yaml", "",
     "duplicate key 'name'"),
    ('{"kind": "custom", "name": "a", "name": "b", "code": "/c", "command": ["a"]}',
     "application/json", "", "duplicate key 'name'"),
    ("kind: custom\nname: x\ncode: /c\ncommand: [a]\nenv: " + "[" * 5000 + "]" * 5000 + "\n",
     "application/yaml", "", "nesting deeper than"),
    ('{"kind": "custom", "name": "x", "code": "/c", "command": ["a"], "env": '
     + "[" * 100_000 + "]" * 100_000 + "}", "application/json", "", "nests too deeply"),
    ("kind: custom\nname: x\ncode: /c\ncommand: [a]\nretry: {max_attempts: " + "9" * 5000 + "}\n",
     "application/yaml", "", "5000 digits is too large"),
    ('{"kind": "custom", "name": "x", "code": "/c", "command": ["a"], "retry": {"max_attempts": '
     + "9" * 5000 + "}}", "application/json", "", "5000 digits is too large"),
    ('{"kind": "custom", "name": "x", "code": "/c", "command": ["a"], "retry": {"max_attempts": '
     + "9" * 19 + "}}", "application/json", "retry.max_attempts", "too large"),
    ('{"kind": "custom", "name": "x", "code": "/c\\u0000x", "command": ["a"]}',
     "application/json", "code", "NUL"),
    ('{"kind": "custom", "name": "x", "code": "/c", "command": ["a\\u0000"]}',
     "application/json", "command[0]", "NUL"),
    ("kind: custom\nname: x\ncode: /c\ncommand: [a]\nresources: {gpus_per_node: '1(,)'}\n",
     "application/yaml", "resources.gpus_per_node", "empty part"),
    ("kind: custom\nname: x\ncode: /c\ncommand: [a]\nresources: {gpus_per_node: '1()'}\n",
     "application/yaml", "resources.gpus_per_node", "empty part"),
])
def test_bad_specs_are_a_422_with_the_field_and_the_fix(world, body, ctype, path, needle):
    started = time.monotonic()
    response = world.client("alice").post("/v1/tasks", content=body, headers={"Content-Type": ctype})
    error = error_of(response, 422)
    assert error["code"] == "invalid_spec" and needle in error["message"], error["message"]
    assert path in [d["path"] for d in error["details"]]
    assert time.monotonic() - started < 5  # at once: no exponential expansion, no 18 s parse
    assert count_tasks(world) == 0


@pytest.mark.parametrize("make_path,needle", [
    (lambda ws: ws + "/" + "d/" * 2100, "a path has at most 4096"),
    (lambda ws: ws + "/" + "x" * 300, "a file name has at most 255"),
])
def test_overlong_paths_are_a_422_not_a_filesystem_error(world, make_path, needle):
    spec = world.spec("alice", code=make_path(str(world.workspace("alice"))))
    error = error_of(world.client("alice").post("/v1/tasks", json=spec), 422)
    assert error["details"][0]["path"] == "code" and needle in error["details"][0]["message"]


@pytest.mark.parametrize("path", ["/v1/tasks/9223372036854775808", "/v1/tasks/99999999999999999999999",
                                  "/v1/tasks/0/events", "/v1/tasks/-1/logs",
                                  "/v1/tasks?offset=9223372036854775808",
                                  "/v1/tasks/1/logs?attempt=99999999999999999999"])
def test_ids_and_offsets_out_of_range_are_a_422(world, path):
    error = error_of(world.client("alice").get(path), 422)
    assert error["code"] == "bad_request" and error["details"]


def test_the_largest_id_is_simply_not_found(world):
    error_of(world.client("alice").get(f"/v1/tasks/{2**63 - 1}"), 404)


def test_idempotency_keys_are_per_user(world):
    key = {"Idempotency-Key": "nightly-1"}
    first = world.client("alice").post("/v1/tasks", json=world.spec("alice"), headers=key)
    again = world.client("alice").post("/v1/tasks", json=world.spec("alice"), headers=key)
    assert first.status_code == 201 and again.json()["id"] == first.json()["id"]
    carol = world.client("carol").post("/v1/tasks", json=world.spec("carol"), headers=key)
    assert carol.status_code == 201, carol.text
    assert carol.json()["id"] != first.json()["id"] and carol.json()["owner"] == "carol"
    bob = world.client("bob").post("/v1/tasks", json=world.spec("bob", name="other"), headers=key)
    assert bob.status_code == 201  # a new task, never a 409 naming alice's
    assert bob.json()["id"] not in (first.json()["id"], carol.json()["id"])
    assert count_tasks(world) == 3


def test_an_overlong_idempotency_key_is_a_422(world):
    response = world.client("alice").post("/v1/tasks", json=world.spec("alice"),
                                          headers={"Idempotency-Key": "k" * 201})
    assert error_of(response, 422)["details"][0]["path"] == "header.Idempotency-Key"


def test_a_busy_database_is_a_503_with_retry_after(world, monkeypatch):
    """Another process holds SQLite's write lock: the API answers 503 and when to retry, not 500."""
    monkeypatch.setattr("argus.db.engine.BUSY_TIMEOUT_MS", 200)  # a test waits 0.2 s, not 30 s
    world.db.write_engine.dispose()  # new connections take the shorter timeout
    world.db.read_engine.dispose()
    holder = sqlite3.connect(world.settings.state_dir / "argus.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        response = world.client("alice").post("/v1/tasks", json=world.spec("alice"))
        error = error_of(response, 503)
        assert error["code"] == "unavailable" and int(response.headers["Retry-After"]) >= 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert world.client("alice").post("/v1/tasks", json=world.spec("alice")).status_code == 201
