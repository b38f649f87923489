"""Typed failures through the API: transient errors are retried and keep the task's state, permanent
ones end FAILED with a termination reason. Real SQLite, real HTTP; Ray faked at its boundary
(tests/fakeray.py), with the failures a flaky Ray really gives (unreachable, 5xx, a job that died)."""

from __future__ import annotations

import errno
import time
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from argus.errors import JobRejected, RayUnavailable
from argus.ray_adapter import PendingGroup
from argus.control.loop import Scheduler
from argus.services.identity import bootstrap_admin
from tests.conftest import ServerThread
from tests.fakeray import FakeProvider, FakeRay

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPEC = {"kind": "custom", "name": "t", "code": str(EXAMPLES / "tiny_train"),
        "command": ["python", "train.py"], "resources": {"nodes": 1, "cpus": 1}, "retry": {"max_attempts": 3}}
NCCL = ("[rank0]:[E321 02:07:08.408271257 ProcessGroupNCCL.cpp:607] [Rank 0] Watchdog caught collective "
        "operation timeout: WorkNCCL(SeqNum=1580, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, "
        "Timeout(ms)=600000) ran for 600060 milliseconds before timing out.\n")


@pytest.fixture
def api(settings):
    ray = FakeRay()
    provider = FakeProvider(ray)
    settings = settings.model_copy(update={"shared_paths": [EXAMPLES], "placement_timeout_s": 0.6,
                                           "transient_backoff_max_s": 0.3})
    app = create_app(settings, provider=provider, embed_scheduler=False)
    token = bootstrap_admin(app.state.ctx.db, "admin")["token"]
    scheduler = Scheduler(app.state.ctx.db, settings, provider)
    headers = {"Authorization": f"Bearer {token}"}
    with ServerThread(app) as server, httpx.Client(base_url=server.url, headers=headers) as http:
        yield http, ray, scheduler


def submit(http: httpx.Client, **extra) -> dict:  # noqa: ANN003
    response = http.post("/v1/tasks", json={**SPEC, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def sid(scheduler: Scheduler, task_id: int, attempt: int = 1) -> str:
    return f"{scheduler.admitter.job_prefix}-{task_id}-{attempt}"


def get(http: httpx.Client, task_id: int) -> dict:
    return http.get(f"/v1/tasks/{task_id}").json()


def events(http: httpx.Client, task_id: int) -> list[dict]:
    return http.get(f"/v1/tasks/{task_id}/events").json()["items"]


def test_an_infrastructure_failure_is_retried_with_the_reason_shown(api):
    http, ray, scheduler = api
    task = submit(http)
    scheduler.tick()
    scheduler.tick()
    ray.end(sid(scheduler, task["id"]), "FAILED", 1, "Job entrypoint command failed with exit code 1",
            "step 20\n" + NCCL + "RuntimeError: NCCL communicator was aborted on rank 0.\n")
    scheduler.tick()  # reconciled: LOST -> QUEUED; then admitted again in the same tick
    again = get(http, task["id"])
    assert again["termination"] == "NCCL_TIMEOUT"  # why the last ended attempt ended
    history = again["attempt_history"]
    assert history[0]["status"] == "FAILED" and history[0]["termination"] == "NCCL_TIMEOUT"
    assert history[0]["exit_code"] == 1
    trail = events(http, task["id"])
    assert [e["to"] for e in trail][3:] == ["RUNNING", "LOST", "QUEUED", "SUBMITTING", "SUBMITTED"]
    requeued = trail[5]["reason"]
    assert "NCCL_TIMEOUT" in requeued and "retrying from its last checkpoint" in requeued
    assert "Watchdog caught collective operation timeout" in requeued
    assert sid(scheduler, task["id"], 2) in ray.jobs  # attempt 2, same checkpoint dir
    assert again["attempts"] == 2 and again["checkpoint_dir"] == task["checkpoint_dir"]


def test_infrastructure_failures_stop_when_the_attempts_run_out(api):
    http, ray, scheduler = api
    task = submit(http, retry={"max_attempts": 2})
    for attempt in (1, 2):
        scheduler.tick()
        ray.end(sid(scheduler, task["id"], attempt), "FAILED", 1, "", NCCL)
        scheduler.tick()
    final = get(http, task["id"])
    assert final["status"] == "FAILED" and final["termination"] == "NCCL_TIMEOUT"
    assert "no attempts left (retry.max_attempts=2)" in final["reason"] and final["attempts"] == 2


def test_a_user_exception_is_failed_and_not_retried(api):
    http, ray, scheduler = api
    task = submit(http)
    scheduler.tick()
    ray.end(sid(scheduler, task["id"]), "FAILED", 2, "Job entrypoint command failed with exit code 2",
            "Traceback (most recent call last):\nKeyError: 'reward_model'\n")
    scheduler.tick()
    scheduler.tick()
    final = get(http, task["id"])
    assert final["status"] == "FAILED" and final["termination"] == "USER_ERROR" and final["attempts"] == 1
    assert "exit code 2" in final["reason"] and "KeyError: 'reward_model'" in final["reason"]
    assert len(ray.jobs) == 1


def test_no_exit_code_is_lost_and_requeued_not_failed(api):
    http, ray, scheduler = api
    task = submit(http)
    scheduler.tick()
    ray.end(sid(scheduler, task["id"]), "FAILED", None,
            "Job supervisor actor died: The actor died because its node has died. Node Id: 4f0c2a7d")
    scheduler.tick()
    requeued = get(http, task["id"])
    assert requeued["attempt_history"][0]["termination"] == "NODE_DIED" and requeued["attempts"] == 2
    assert [e["to"] for e in events(http, task["id"])][2:5] == ["SUBMITTED", "LOST", "QUEUED"]


def test_reconcile_lists_jobs_once_per_tick(api):
    http, ray, scheduler = api
    for i in range(4):
        submit(http, name=f"t{i}")
    scheduler.tick()
    scheduler.tick()
    assert all(t["status"] == "RUNNING" for t in http.get("/v1/tasks").json()["items"])
    ray.calls.clear()
    scheduler.tick()
    assert ray.calls["list_jobs"] == 1 and ray.calls["status"] == 0


def test_ray_unreachable_keeps_every_state_and_then_carries_on(api):
    http, ray, scheduler = api
    task = submit(http)
    scheduler.tick()
    scheduler.tick()
    ray.failures["list_jobs"] = [RayUnavailable("Ray is unreachable (list jobs): timed out")] * 2
    scheduler.tick()
    scheduler.tick()
    waiting = get(http, task["id"])
    assert waiting["status"] == "RUNNING"  # nothing decided on a missing answer
    assert waiting["reason"].startswith("Ray is unreachable; status not confirmed") and "timed out" in waiting["reason"]
    scheduler.tick()
    assert get(http, task["id"])["reason"] == "running"  # confirmed again
    ray.end(sid(scheduler, task["id"]), "SUCCEEDED", 0)
    scheduler.tick()
    assert get(http, task["id"])["status"] == "SUCCEEDED"


def test_a_transient_submit_error_keeps_submitting_and_backs_off(api):
    http, ray, scheduler = api
    ray.failures["submit"] = [RayUnavailable("Ray answered HTTP 503 (submit): busy"),
                              RayUnavailable("Ray is unreachable (submit): connection refused")]
    task = submit(http)
    scheduler.tick()
    waiting = get(http, task["id"])
    assert waiting["status"] == "SUBMITTING" and "transient, retry 2" in waiting["reason"]
    assert "HTTP 503" in waiting["reason"]
    scheduler.tick()  # within the backoff: no new try
    assert ray.calls["submit"] == 1
    deadline = time.monotonic() + 30  # backoffs of ~1 s and ~2 s; generous under load
    while get(http, task["id"])["status"] == "SUBMITTING" and time.monotonic() < deadline:
        time.sleep(0.2)
        scheduler.tick()
    assert ray.calls["submit"] == 3 and get(http, task["id"])["status"] in ("SUBMITTED", "RUNNING")
    assert list(ray.jobs) == [sid(scheduler, task["id"])] and get(http, task["id"])["attempts"] == 1


def test_a_rejected_job_is_failed_with_its_reason(api):
    http, ray, scheduler = api
    ray.failures["submit"] = [JobRejected("submit x: Ray rejected the request: status code 400: bad runtime_env")]
    task = submit(http)
    scheduler.tick()
    final = get(http, task["id"])
    assert final["status"] == "FAILED" and final["termination"] == "REJECTED"
    assert "bad runtime_env" in final["reason"]


def test_a_shared_filesystem_error_at_claim_is_retried(api, monkeypatch):
    http, ray, scheduler = api
    compile_ = scheduler.admitter.preparer.compile
    errors = [OSError(errno.EIO, "Input/output error", "/gpfs/checkpoints")]

    def flaky(*args, **kwargs):  # noqa: ANN002, ANN003 - GPFS answering EIO once (not reachable here)
        if errors:
            raise errors.pop()
        return compile_(*args, **kwargs)

    monkeypatch.setattr(scheduler.admitter.preparer, "compile", flaky)
    task = submit(http)
    scheduler.tick()
    waiting = get(http, task["id"])
    assert waiting["status"] == "QUEUED" and "Input/output error" in waiting["reason"]
    assert "transient" in waiting["reason"] and waiting["attempts"] == 0
    time.sleep(1.1)
    scheduler.tick()
    assert get(http, task["id"])["status"] in ("SUBMITTED", "RUNNING")


def test_one_bad_submitting_task_never_blocks_the_loop(api, settings, tmp_path):
    """A SUBMITTING verl task whose tree vanished fails alone; the other task is still admitted."""
    http, ray, scheduler = api
    from argus.scheduling.planner import Admit

    good = submit(http, name="good")
    bad = submit(http, name="bad")
    assert scheduler.lease.acquire()  # the loop's writes are fenced by the lease it holds
    claimed = scheduler.admitter.claim(Admit(bad["id"], ("w1",)), ray.address, None)
    assert claimed is not None  # claimed, then the process died before submitting

    compile_ = scheduler.admitter.preparer.compile

    def vanished(spec, **kwargs):  # noqa: ANN001, ANN003 - what inspecting a deleted tree raises
        if kwargs["task_id"] == bad["id"]:
            raise ValueError("'/gpfs/verl/v0.9.1' is not a verl source tree (no verl/trainer/config)")
        return compile_(spec, **kwargs)

    scheduler.admitter.preparer.compile = vanished
    scheduler.tick()
    failed = get(http, bad["id"])
    assert failed["status"] == "FAILED" and failed["termination"] == "COMPILE_ERROR"
    assert "not a verl source tree" in failed["reason"]
    assert scheduler.last_error == "" and get(http, good["id"])["status"] in ("SUBMITTED", "RUNNING")


def test_timeout_minutes_stops_the_attempt_and_fails_it(api):
    http, ray, scheduler = api
    task = submit(http, timeout_minutes=0.01)  # 0.6 s
    scheduler.tick()
    scheduler.tick()
    assert get(http, task["id"])["status"] == "RUNNING"
    time.sleep(0.7)
    scheduler.tick()  # past the limit: Argus stops the job (SIGTERM, SIGKILL after the grace)
    assert ray.jobs[sid(scheduler, task["id"])] == "STOPPED"
    assert "timed out after 0.01 min" in get(http, task["id"])["reason"]
    scheduler.tick()
    final = get(http, task["id"])
    assert final["status"] == "FAILED" and final["termination"] == "TIMED_OUT" and final["attempts"] == 1
    assert final["reason"].startswith("timed out after 0.01 min")
    scheduler.tick()
    assert len(ray.jobs) == 1  # not retried


def test_pending_placement_is_shown_then_requeued_after_the_timeout(api):
    http, ray, scheduler = api
    task = submit(http)
    scheduler.tick()
    scheduler.tick()
    first = sid(scheduler, task["id"])
    ray.pending_groups = [PendingGroup("pg1", ray.job_id(first), 8.0, 8),
                          PendingGroup("pg2", ray.job_id(first), 8.0, 8)]
    scheduler.tick()
    waiting = get(http, task["id"])
    assert waiting["status"] == "RUNNING"
    assert waiting["reason"].startswith("the job waits for 16 GPUs: placement group pending")
    time.sleep(0.7)
    scheduler.tick()  # past ARGUS_PLACEMENT_TIMEOUT_S: stopped
    assert ray.jobs[first] == "STOPPED"
    ray.pending_groups = []
    scheduler.tick()
    requeued = get(http, task["id"])
    assert requeued["status"] in ("QUEUED", "SUBMITTED", "RUNNING")
    assert requeued["attempt_history"][0]["termination"] == "PLACEMENT_TIMEOUT"
    assert any(e["to"] == "QUEUED" and "PLACEMENT_TIMEOUT" in e["reason"] for e in events(http, task["id"]))


def test_a_stored_spec_that_no_longer_validates_fails_alone(api):
    """A task queued under an older model that the current one refuses: COMPILE_ERROR for it,
    the task behind it is still admitted in the same tick."""
    http, ray, scheduler = api
    from sqlalchemy import update

    from argus.db.models import Task

    old = submit(http, name="old")
    new = submit(http, name="new")
    with scheduler.lease.db.write() as session:  # the test, not the loop: unfenced
        session.execute(update(Task).where(Task.id == old["id"])
                        .values(spec={**SPEC, "name": "old", "gpus": 2}))  # a key the model no longer has
    scheduler.tick()
    failed = get(http, old["id"])
    assert failed["status"] == "FAILED" and failed["termination"] == "COMPILE_ERROR"
    assert "gpus" in failed["reason"] and scheduler.last_error == ""
    assert get(http, new["id"])["status"] in ("SUBMITTED", "RUNNING")
