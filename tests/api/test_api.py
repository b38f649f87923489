"""The REST API over a real SQLite file and real HTTP; Ray is faked at its boundary."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from api.app import create_app
from argus.services.identity import bootstrap_admin
from argus.control.loop import Scheduler
from argus.scheduling.planner import Admit
from tests.conftest import ServerThread
from tests.fakeray import FakeProvider, FakeRay

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPEC = {"kind": "custom", "name": "t", "code": str(EXAMPLES / "tiny_train"),
        "command": ["python", "train.py"], "resources": {"nodes": 1, "cpus": 1}}


def sid(scheduler: Scheduler, task_id: int, attempt: int = 1) -> str:
    return f"{scheduler.admitter.job_prefix}-{task_id}-{attempt}"


@pytest.fixture
def api(settings):
    ray = FakeRay()
    provider = FakeProvider(ray)
    settings = settings.model_copy(update={"shared_paths": [EXAMPLES, Path("/tmp")]})
    app = create_app(settings, provider=provider, embed_scheduler=False)
    token = bootstrap_admin(app.state.ctx.db, "admin")["token"]
    scheduler = Scheduler(app.state.ctx.db, settings, provider)
    headers = {"Authorization": f"Bearer {token}"}
    with ServerThread(app) as server, httpx.Client(base_url=server.url, headers=headers) as http:
        yield http, ray, scheduler


def test_submit_get_list_events(api):
    http, _ray, scheduler = api
    created = http.post("/v1/tasks", json=SPEC)
    assert created.status_code == 201
    task = created.json()
    assert task["status"] == "QUEUED" and task["checkpoint_dir"].endswith(f"{task['id']}-t")
    scheduler.tick()
    scheduler.tick()
    got = http.get(f"/v1/tasks/{task['id']}").json()
    assert got["status"] == "RUNNING" and re.fullmatch(rf"argus-[0-9a-f]{{6}}-{task['id']}-1", got["submission_id"])
    assert [e["to"] for e in http.get(f"/v1/tasks/{task['id']}/events").json()["items"]] == [
        "QUEUED", "SUBMITTING", "SUBMITTED", "RUNNING"]
    listed = http.get("/v1/tasks", params={"status": "RUNNING"}).json()
    assert [t["id"] for t in listed["items"]] == [task["id"]]
    assert http.get("/v1/tasks", params={"status": "QUEUED"}).json()["total"] == 0


def test_yaml_body_and_idempotency_key(api):
    http, _ray, _ = api
    text = (EXAMPLES / "custom-train.yaml").read_text().replace("examples/tiny_train",
                                                                 str(EXAMPLES / "tiny_train"))
    headers = {"Content-Type": "application/yaml", "Idempotency-Key": "abc"}
    first = http.post("/v1/tasks", content=text, headers=headers).json()
    again = http.post("/v1/tasks", content=text, headers=headers).json()
    assert first["id"] == again["id"]
    assert http.get("/v1/tasks").json()["total"] == 1
    other = http.post("/v1/tasks", json={**SPEC, "name": "other"}, headers={"Idempotency-Key": "abc"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "conflict"


def test_pagination(api):
    http, _ray, _ = api
    ids = [http.post("/v1/tasks", json={**SPEC, "name": f"t{i}"}).json()["id"] for i in range(5)]
    page = http.get("/v1/tasks", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 5 and [t["id"] for t in page["items"]] == ids[::-1][1:3]


def test_cancel_queued_and_running(api):
    http, ray, scheduler = api
    queued = http.post("/v1/tasks", json={**SPEC, "resources": {"nodes": 5}}).json()
    assert http.post(f"/v1/tasks/{queued['id']}/cancel").json()["status"] == "CANCELLED"
    running = http.post("/v1/tasks", json=SPEC).json()
    scheduler.tick()
    assert http.post(f"/v1/tasks/{running['id']}/cancel").json()["status"] == "CANCELLING"
    scheduler.tick()  # the loop stops the Ray job, then sees it STOPPED
    scheduler.tick()
    assert ray.jobs[sid(scheduler, running['id'])] == "STOPPED"
    assert http.get(f"/v1/tasks/{running['id']}").json()["status"] == "CANCELLED"
    again = http.post(f"/v1/tasks/{running['id']}/cancel")
    assert again.status_code == 409 and "already ended" in again.json()["error"]["message"]


def test_resubmit_keeps_the_checkpoint_dir(api):
    http, ray, scheduler = api
    task = http.post("/v1/tasks", json=SPEC).json()
    scheduler.tick()
    ray.jobs[sid(scheduler, task['id'])] = "SUCCEEDED"
    scheduler.tick()
    assert http.post(f"/v1/tasks/{task['id']}/resubmit").status_code == 201
    new = http.get("/v1/tasks").json()["items"][0]
    assert new["resubmit_of"] == task["id"] and new["checkpoint_dir"] == task["checkpoint_dir"]
    fresh = http.post(f"/v1/tasks/{task['id']}/resubmit", params={"fresh": "true"}).json()
    assert fresh["checkpoint_dir"] != task["checkpoint_dir"]
    live = http.post(f"/v1/tasks/{new['id']}/resubmit")
    assert live.status_code == 409


def test_lost_job_is_requeued_then_fails_when_attempts_run_out(api):
    http, ray, scheduler = api
    task = http.post("/v1/tasks", json={**SPEC, "retry": {"max_attempts": 2}}).json()
    for _ in range(2):
        scheduler.tick()
        ray.jobs.clear()  # the head restarted: Ray forgot every job
        scheduler.tick()
    final = http.get(f"/v1/tasks/{task['id']}").json()
    assert final["status"] == "FAILED" and "no attempts left" in final["reason"]
    assert final["attempts"] == 2


def test_dry_run_queues_nothing_and_explains(api):
    http, _ray, _ = api
    result = http.post("/v1/tasks", params={"dry_run": "true"},
                       json={**SPEC, "resources": {"nodes": 1, "gpus_per_node": "16(H100)"}}).json()
    assert result["dry_run"] is True and result["entrypoint"].startswith("sh -c ")
    assert result["decision"]["admit"] is False and "larger than the cluster" in result["decision"]["reason"]
    assert http.get("/v1/tasks").json()["total"] == 0


@pytest.mark.parametrize("body,ctype,code,needle", [
    ("kind: custom\nname: !!python/object:os.system x\n", "application/yaml", "invalid_spec", "tag"),
    ('{"kind": "custom"', "application/json", "bad_request", "JSON"),
    ("{}", "text/csv", "bad_request", "Content-Type"),
    ('{"kind": "custom", "name": "x", "code": "/nonexistent", "command": ["a"]}', "application/json",
     "invalid_spec", "code"),
    ('{"kind": "custom", "name": "x", "priority": "urgent", "code": "/tmp", "command": ["a"]}',
     "application/json", "invalid_spec", "not a priority class"),
])
def test_bad_submissions_share_one_error_shape_and_change_nothing(api, body, ctype, code, needle):
    http, _ray, _ = api
    response = http.post("/v1/tasks", content=body, headers={"Content-Type": ctype})
    assert 400 <= response.status_code < 500
    error = response.json()["error"]
    assert error["code"] == code and needle in error["message"] and error["request_id"]
    assert http.get("/v1/tasks").json()["total"] == 0


def test_health_ready_schema_openapi(api):
    http, _ray, _ = api
    assert http.get("/healthz").json()["status"] == "ok"
    assert http.get("/v1/schema").json()["discriminator"]["propertyName"] == "kind"
    assert "/v1/tasks" in http.get("/openapi.json").json()["paths"]


def test_crash_between_claim_and_submit_never_makes_two_attempts(api):
    http, ray, scheduler = api
    task = http.post("/v1/tasks", json=SPEC).json()
    admitter = scheduler.admitter
    assert scheduler.lease.acquire()  # the loop's writes are fenced by the lease it holds
    # Crash right after the claim committed: the attempt is SUBMITTING, Ray has nothing.
    assert admitter.claim(Admit(task["id"], ("w1",)), ray.address, None) is not None
    assert http.get(f"/v1/tasks/{task['id']}").json()["status"] == "SUBMITTING"
    scheduler.tick()  # a restarted loop submits the same submission id
    assert list(ray.jobs) == [sid(scheduler, task['id'])]
    assert http.get(f"/v1/tasks/{task['id']}").json()["status"] in ("SUBMITTED", "RUNNING")

    # Crash after Ray accepted but before SUBMITTED was written: found in Ray, not resubmitted.
    second = http.post("/v1/tasks", json={**SPEC, "name": "second"}).json()
    claimed = admitter.claim(Admit(second["id"], ("w1",)), ray.address, None)
    ray.submit(claimed[3])
    scheduler.tick()
    assert sorted(ray.jobs) == sorted([sid(scheduler, task['id']), sid(scheduler, second['id'])])
    assert http.get(f"/v1/tasks/{second['id']}").json()["attempts"] == 1


def test_two_installations_on_one_ray_cluster_never_share_a_job(api, settings, tmp_path):
    """Both databases have a task 1; the installation id keeps their Ray jobs apart."""
    http, ray, scheduler = api
    first = http.post("/v1/tasks", json=SPEC).json()
    scheduler.tick()
    other_settings = settings.model_copy(update={"state_dir": tmp_path / "other", "db_url": "",
                                                 "shared_paths": [EXAMPLES]})
    other_app = create_app(other_settings, provider=FakeProvider(ray), embed_scheduler=False)
    other_token = bootstrap_admin(other_app.state.ctx.db, "admin")["token"]
    other_scheduler = Scheduler(other_app.state.ctx.db, other_settings, FakeProvider(ray))
    headers = {"Authorization": f"Bearer {other_token}"}
    with ServerThread(other_app) as server, httpx.Client(base_url=server.url, headers=headers) as other:
        second = other.post("/v1/tasks", json=SPEC).json()
        assert second["id"] == first["id"]
        other_scheduler.tick()
        assert sid(other_scheduler, second["id"]) != sid(scheduler, first["id"])
        assert sorted(ray.jobs) == sorted([sid(scheduler, first["id"]), sid(other_scheduler, second["id"])])
        assert other.get(f"/v1/tasks/{second['id']}").json()["attempts"] == 1


def test_claim_builds_the_job_without_holding_the_write_lock(api, monkeypatch):
    """Compiling (paths, hydra, interpreter checks) happens before the claim's transaction: a
    write by anyone else during a slow compile goes through at once."""
    http, ray, scheduler = api
    task = http.post("/v1/tasks", json=SPEC).json()
    assert scheduler.lease.acquire()
    admitter = scheduler.admitter
    real_compile = admitter.preparer.compile
    seen: list[float] = []

    def slow_compile(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        def other_writer() -> None:
            started = time.monotonic()
            with scheduler.db.write() as session:
                session.execute(text("UPDATE installation SET created_at = created_at"))
            seen.append(time.monotonic() - started)

        writer = threading.Thread(target=other_writer)
        writer.start()
        writer.join(3)
        return real_compile(*args, **kwargs)

    monkeypatch.setattr(admitter.preparer, "compile", slow_compile)
    assert admitter.claim(Admit(task["id"], ("w1",)), ray.address, None) is not None
    assert seen and seen[0] < 1.0, f"another write waited {seen} s for the claim's transaction"
    assert http.get(f"/v1/tasks/{task['id']}").json()["status"] == "SUBMITTING"
