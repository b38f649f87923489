"""Paths are checked again at admission and at resubmit (issue 10, item 5): a symlink in the
owner's workspace swapped after submit to point into another user's workspace is refused with
a reason, and the task never reaches Ray. Real SQLite, real HTTP; Ray faked at its boundary.
"""

from __future__ import annotations

import os

import httpx
import pytest

from api.app import create_app
from argus.control.loop import Scheduler
from tests.api.conftest import build_world
from tests.conftest import ServerThread
from tests.fakeray import FakeProvider, FakeRay


@pytest.fixture
def site(tmp_path):  # noqa: ANN201
    settings, db, tokens = build_world(tmp_path)
    ray = FakeRay()
    provider = FakeProvider(ray)
    app = create_app(settings, provider=provider, db=db, embed_scheduler=False)
    scheduler = Scheduler(db, settings, provider)
    users = settings.shared_root / "users"
    (users / "alice" / "code" / "real").mkdir()
    (users / "carol" / "code" / "secret").mkdir()
    link = users / "alice" / "code" / "current"
    link.symlink_to(users / "alice" / "code" / "real")
    with ServerThread(app) as server, httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {tokens['alice']}"}) as alice:
        yield alice, ray, scheduler, link, users / "carol" / "code" / "secret"


def _swap(link, target) -> None:  # noqa: ANN001
    tmp = link.with_name(link.name + ".new")
    tmp.symlink_to(target)
    os.replace(tmp, link)


def _spec(link) -> dict:  # noqa: ANN001
    return {"kind": "custom", "name": "linked", "code": str(link), "command": ["python", "t.py"],
            "resources": {"nodes": 1, "cpus": 1}}


def test_a_symlink_swapped_after_submit_is_refused_at_admission(site):
    alice, ray, scheduler, link, carols = site
    created = alice.post("/v1/tasks", json=_spec(link))
    assert created.status_code == 201, created.text  # inside alice's workspace when submitted
    _swap(link, carols)
    scheduler.tick()
    task = alice.get(f"/v1/tasks/{created.json()['id']}").json()
    assert task["status"] == "FAILED" and task["termination"] == "COMPILE_ERROR"
    assert "checked again at admission" in task["reason"] and str(carols) in task["reason"]
    assert ray.jobs == {}  # never submitted


def test_an_unchanged_link_is_admitted(site):
    alice, ray, scheduler, link, _carols = site
    task_id = alice.post("/v1/tasks", json=_spec(link)).json()["id"]
    scheduler.tick()
    assert alice.get(f"/v1/tasks/{task_id}").json()["status"] in ("SUBMITTED", "RUNNING")
    assert len(ray.jobs) == 1


def test_a_symlink_swapped_before_a_resubmit_is_refused_with_the_field(site):
    alice, _ray, _scheduler, link, carols = site
    task_id = alice.post("/v1/tasks", json=_spec(link)).json()["id"]
    assert alice.post(f"/v1/tasks/{task_id}/cancel").json()["status"] == "CANCELLED"
    _swap(link, carols)
    response = alice.post(f"/v1/tasks/{task_id}/resubmit")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_spec" and "checked again at resubmit" in error["message"]
    assert error["details"][0]["path"] == "code" and "symlink" in error["details"][0]["message"]
    assert alice.get("/v1/tasks").json()["total"] == 1  # nothing queued
