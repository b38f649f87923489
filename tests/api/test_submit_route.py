"""The submit route's plain path (api/routers/tasks.py ``SubmitRoute``) answers as FastAPI's own.

A plain submit (no query string, its headers absent or within bounds) skips FastAPI's parameter
solving; everything else takes FastAPI's path. Each case here is sent both ways — ``?dry_run=false``
is the same request through FastAPI's path — and must get the same answer. Real server, real
SQLite file, real HTTP.
"""

from __future__ import annotations

import httpx
import pytest

from api.app import create_app
from api.routers.tasks import SUBMITTER
from tests.api.conftest import FakeCluster, World, build_world
from tests.conftest import ServerThread

SLOW = {"dry_run": "false"}  # the same request, through FastAPI's parameter solving


def comparable(response: httpx.Response) -> tuple:
    """What a client sees, less what differs by nature (ids, times, request ids)."""
    body = response.json()
    if "error" in body:
        error = body["error"]
        assert error["request_id"] == response.headers["X-Request-ID"]
        return response.status_code, error["code"], error["message"], error["details"]
    moving = {"id", "created_at", "updated_at", "queued_at", "checkpoint_dir"}
    return response.status_code, {k: v for k, v in body.items() if k not in moving}


def both(world: World, user: str, *, spec: dict | None = None, content: str | None = None,
         headers: dict | None = None) -> tuple[tuple, tuple]:
    client = world.client(user)
    kwargs = {"content": content} if content is not None else {"json": spec or world.spec(user)}
    plain = client.post("/v1/tasks", headers=headers, **kwargs)
    solved = client.post("/v1/tasks", params=SLOW, headers=headers, **kwargs)
    return comparable(plain), comparable(solved)


@pytest.mark.parametrize("headers", [
    None,
    {"X-Argus-Source": "nightly.yaml"},
    {"X-Argus-Source": ""},
    {"X-Argus-Source": "s" * 200},
    {"X-Argus-Source": "s" * 201},
    {"Idempotency-Key": ""},
    {"Idempotency-Key": "k" * 201},
    {"Idempotency-Key": "k" * 200, "X-Argus-Source": "s" * 201},
])
def test_plain_and_solved_paths_answer_alike(shared_world: World, headers: dict | None) -> None:
    plain, solved = both(shared_world, "alice", headers=headers)
    assert plain == solved
    if headers and any(len(v) > 200 or (k == "Idempotency-Key" and not v) for k, v in headers.items()):
        assert plain[0] == 422 and plain[3][0]["path"].startswith("header.")
    else:
        assert plain[0] == 201


def test_bad_specs_name_the_source_either_way(shared_world: World) -> None:
    bad = {**shared_world.spec("alice"), "resources": {"nodes": 0}}
    plain, solved = both(shared_world, "alice", spec=bad, headers={"X-Argus-Source": "mine.yaml"})
    assert plain == solved and plain[0] == 422 and plain[2].startswith("mine.yaml: ")
    plain, solved = both(shared_world, "alice", content="kind: [", headers={"Content-Type": "application/yaml"})
    assert plain == solved and plain[0] == 422


def test_a_reader_is_refused_and_audited_either_way(shared_world: World) -> None:
    plain, solved = both(shared_world, "root")  # root may submit: a control
    assert plain == solved and plain[0] == 201
    anonymous = httpx.Client(base_url=shared_world.url)
    answers = [comparable(anonymous.post("/v1/tasks", params=params, json=shared_world.spec("alice")))
               for params in (None, SLOW)]
    assert answers[0] == answers[1] and answers[0][0] == 401


def test_an_idempotency_key_names_one_task_on_both_paths(shared_world: World) -> None:
    alice, key = shared_world.client("alice"), {"Idempotency-Key": "route-1"}
    first = alice.post("/v1/tasks", json=shared_world.spec("alice"), headers=key)
    again = alice.post("/v1/tasks", params=SLOW, json=shared_world.spec("alice"), headers=key)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    other = alice.post("/v1/tasks", json=shared_world.spec("alice", name="other"), headers=key)
    assert comparable(other)[:2] == (409, "conflict")


def test_dependency_overrides_take_fastapis_path(tmp_path) -> None:  # noqa: ANN001
    """An override (as a test may set) is honoured: the plain path steps aside."""
    settings, db, tokens = build_world(tmp_path)
    app = create_app(settings, provider=FakeCluster(), db=db, embed_scheduler=False)
    def nobody() -> None:
        raise RuntimeError("overridden")

    app.dependency_overrides[SUBMITTER] = nobody
    with ServerThread(app) as server:
        answer = httpx.post(f"{server.url}/v1/tasks", json={"kind": "custom"},
                            headers={"Authorization": f"Bearer {tokens['alice']}"}, timeout=30)
    assert answer.status_code == 500 and "RuntimeError" in answer.json()["error"]["message"]
