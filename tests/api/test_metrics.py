"""GET /metrics: Prometheus text from the DB and the cluster, open only to ARGUS_METRICS_ALLOW."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from argus.db.models import Preemption
from argus.control.loop import Scheduler
from argus.settings import Settings
from tests.api.conftest import build_world
from tests.conftest import ServerThread
from tests.fakeray import FakeProvider, FakeRay

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPEC = {"kind": "custom", "name": "t", "code": str(EXAMPLES / "tiny_train"),
        "command": ["python", "train.py"], "resources": {"nodes": 1, "cpus": 1, "gpus_per_node": "2(H100)"}}
TEAMS = {"red": {"quota": {"H100": {"nominal": 8}}}}


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, metric: str, **labels: str) -> float | None:
    return found.get((metric, frozenset(labels.items())))


@pytest.fixture
def served(tmp_path: Path):
    ray = FakeRay()
    settings, db, tokens = build_world(tmp_path)
    settings = settings.model_copy(update={"shared_paths": [EXAMPLES], "teams": TEAMS})
    app = create_app(settings, provider=FakeProvider(ray), db=db, embed_scheduler=False)
    scheduler = Scheduler(db, settings, FakeProvider(ray))
    with ServerThread(app) as server, httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {tokens['alice']}"}) as http:
        yield http, scheduler, app


def test_metrics_follow_a_task_from_queue_to_running(served):
    http, scheduler, app = served
    before = samples(http.get("/metrics").text)
    assert value(before, "argus_task_wait_seconds_count", priority="batch") is None
    created = http.post("/v1/tasks", json=SPEC)
    assert created.status_code == 201, created.text
    queued = samples(http.get("/metrics").text)
    assert value(queued, "argus_tasks", status="QUEUED", priority="batch", team="red") == 1
    assert value(queued, "argus_queue_oldest_wait_seconds", priority="batch", team="red") >= 0
    scheduler.tick()
    scheduler.tick()
    resp = http.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    found = samples(resp.text)
    assert value(found, "argus_tasks", status="RUNNING", priority="batch", team="red") == 1
    assert value(found, "argus_tasks", status="QUEUED", priority="batch", team="red") is None
    assert value(found, "argus_task_wait_seconds_count", priority="batch") == 1
    assert value(found, "argus_quota_gpus", team="red", flavor="H100", kind="nominal") == 8
    assert value(found, "argus_quota_gpus", team="red", flavor="H100", kind="in_use") == 2
    assert value(found, "argus_quota_gpus", team="red", flavor="H100", kind="borrowed") == 0
    assert value(found, "argus_task_node_gpus", task=str(created.json()["id"]), name="t", priority="batch",
                 team="red", node="ray-w1") == 2  # a Ray worker without an agent record
    assert value(found, "argus_nodes", state="ready") == 1  # FakeRay's one worker, no agent record
    assert value(found, "argus_node_zombies", kind="Ray node without a live agent") == 1
    assert value(found, "argus_ray_reachable") == 1
    assert value(found, "argus_audit_chain_ok") == 1
    assert value(found, "argus_http_request_duration_seconds_count",
                 method="POST", route="/v1/tasks", status="201") == 1
    # a second scrape does not count the same start twice
    again = samples(http.get("/metrics").text)
    assert value(again, "argus_task_wait_seconds_count", priority="batch") == 1
    with app.state.ctx.db.write() as session:
        session.add(Preemption(ts=1.0, victim_task_id=created.json()["id"], preemptor_task_id=created.json()["id"]))
    assert value(samples(http.get("/metrics").text), "argus_preemptions_total", priority="batch") == 1


def test_metrics_refused_outside_the_allowed_networks(settings: Settings):
    settings = settings.model_copy(update={"metrics_allow": ["10.0.0.0/8"]})
    app = create_app(settings, provider=FakeProvider(FakeRay()), embed_scheduler=False)
    with ServerThread(app) as server:
        resp = httpx.get(f"{server.url}/metrics")
        assert resp.status_code == 403
        error = resp.json()["error"]
        assert error["code"] == "forbidden" and "ARGUS_METRICS_ALLOW" in error["message"]


def test_metrics_allow_setting_rejects_garbage(tmp_path: Path):
    with pytest.raises(ValueError, match="'10.0.0.300' is not an address or network"):
        Settings(state_dir=tmp_path, metrics_allow=["10.0.0.300"])


def test_the_embedded_loop_times_its_ticks(tmp_path: Path) -> None:
    settings, db, _tokens = build_world(tmp_path)
    app = create_app(settings, provider=FakeProvider(FakeRay()), db=db, embed_scheduler=True)
    with ServerThread(app) as server:
        deadline = time.monotonic() + 20
        found: dict = {}
        while time.monotonic() < deadline:
            found = samples(httpx.get(f"{server.url}/metrics").text)
            if (value(found, "argus_scheduler_tick_seconds_count") or 0) >= 2:
                break
            time.sleep(0.2)
    assert value(found, "argus_scheduler_tick_seconds_count") >= 2
    assert value(found, "argus_scheduler_up") == 1
    (holder,) = [dict(labels)["holder"] for name, labels in found if name == "argus_scheduler_lease_held"]
    assert holder and value(found, "argus_scheduler_lease_held", holder=holder) == 1
    assert value(found, "argus_scheduler_lease_token") >= 1
    assert time.time() - value(found, "argus_scheduler_last_tick_timestamp_seconds") < 20
