"""Usage reports over real HTTP and a real SQLite file holding tasks and attempts at known times."""

from __future__ import annotations

from pathlib import Path

import pytest

from argus.db.models import Attempt, Task
from tests.api.conftest import World
from tests.api.test_cli_identity import Cli

SINCE, UNTIL = 1000.0, 1000.0 + 86400


def _task(session, task_id: int, owner: str, team: str, priority: str, gpus: float, nodes: int,  # noqa: ANN001
          created: float, status: str, finished: float | None = None, termination: str | None = None) -> None:
    session.add(Task(id=task_id, name=f"t{task_id}", kind="custom", priority=priority, team=team, owner=owner,
                     status=status, reason="", spec={}, spec_text="", checkpoint_dir="/x", nodes=nodes,
                     gpus_per_node=gpus, cpus_per_node=1, created_at=created, updated_at=created, queued_at=created,
                     finished_at=finished, termination=termination))
    session.flush()


def _attempt(session, task_id: int, number: int, status: str, started: float, ended: float | None) -> None:  # noqa: ANN001
    session.add(Attempt(task_id=task_id, number=number, submission_id=f"s-{task_id}-{number}", status=status,
                        created_at=started - 1, started_at=started, ended_at=ended))


@pytest.fixture
def history(shared_world: World) -> World:
    with shared_world.db.write() as session:
        if session.get(Task, 9001) is None:
            _task(session, 9001, "alice", "red", "batch", 2, 2, 1000, "SUCCEEDED", finished=12700)
            _attempt(session, 9001, 1, "QUEUED", 1600, 5200)  # preempted after an hour
            _attempt(session, 9001, 2, "SUCCEEDED", 5500, 12700)
            _task(session, 9002, "bob", "red", "realtime", 1, 1, 2000, "FAILED", finished=3810,
                  termination="NCCL_TIMEOUT")
            _attempt(session, 9002, 1, "FAILED", 2010, 3810)
            _task(session, 9003, "carol", "blue", "batch", 8, 1, 500, "RUNNING")
            _attempt(session, 9003, 1, "RUNNING", 700, None)  # since before the window, still running
    return shared_world


def get(world: World, who: str, **params) -> dict:  # noqa: ANN003
    resp = world.client(who).get("/v1/reports/usage", params={"since": SINCE, "until": UNTIL, **params})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_usage_by_team_counts_gpu_hours_waits_preemptions_and_failures(history: World) -> None:
    rows = {r["team"]: r for r in get(history, "root", by="team")["rows"]}
    red, blue = rows["red"], rows["blue"]
    assert red["gpu_hours"] == 12.5  # 4 GPUs x (1 h + 2 h) + 1 GPU x 0.5 h
    assert (red["tasks_submitted"], red["tasks_succeeded"], red["tasks_failed"], red["starts"]) == (2, 1, 1, 3)
    assert (red["wait_p50_seconds"], red["wait_p95_seconds"]) == (300.0, 570.0)  # waits 600, 300, 10
    assert red["preemptions"] == 1 and red["failures_by_reason"] == {"NCCL_TIMEOUT": 1}
    assert blue["gpu_hours"] == 192.0 and blue["tasks_submitted"] == 0 and blue["wait_p50_seconds"] is None
    assert sum(blue["gpus_over_time"]) / len(blue["gpus_over_time"]) == 8.0
    by_user = {r["user"]: r["gpu_hours"] for r in get(history, "root", by="user")["rows"]}
    assert (by_user["alice"], by_user["bob"], by_user["carol"]) == (12.0, 0.5, 192.0)


def test_a_team_scope_sees_its_own_team_only_and_bad_input_is_refused(history: World) -> None:
    assert [r["team"] for r in get(history, "tadmin")["rows"]] == ["red"]
    assert {r["team"] for r in get(history, "audrey")["rows"]} >= {"red", "blue"}
    bad = history.client("root").get("/v1/reports/usage", params={"since": "yesterday"})
    assert bad.status_code == 400 and "ISO 8601" in bad.json()["error"]["message"]
    backwards = history.client("root").get("/v1/reports/usage", params={"since": UNTIL, "until": SINCE})
    assert backwards.status_code == 400 and "must be before" in backwards.json()["error"]["message"]
    assert history.client("root").get("/v1/reports/usage", params={"since": 0, "by": "gpu"}).status_code == 422


def test_cli_report_table_csv_and_html(history: World, tmp_path: Path) -> None:
    cli = Cli(tmp_path, history.url)
    args = ("report", "--since", str(SINCE), "--until", str(UNTIL))
    table = cli(*args, token=history.tokens["root"])
    assert table.returncode == 0, table.stderr
    assert any(line.split()[:2] == ["red", "12.5"] for line in table.stdout.splitlines())
    csv = cli(*args, "--format", "csv", "--by", "priority", token=history.tokens["root"])
    assert csv.stdout.splitlines()[0].startswith("priority,gpu_hours,") and "realtime,0.5," in csv.stdout
    page = cli(*args, "--format", "html", token=history.tokens["root"]).stdout
    assert page.startswith("<!doctype html>") and page.count("<svg") == 3 and "<polyline" in page  # bars, legend, lines
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    bad = cli("report", "--since", "last tuesday", token=history.tokens["root"])
    assert bad.returncode == 1 and "ISO 8601" in bad.stderr
