"""Keyset pagination of ``GET /v1/tasks`` (``after`` / ``next_after``) over real HTTP and a real
SQLite file: a walk covers every matching task exactly once, in the list's order, under filters
and visibility, while tasks are submitted between pages; a bad cursor is a 422 that names the
field and the fix; ``argus list`` pages with ``--after``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.api.conftest import World


def _submit(world: World, who: str) -> int:
    response = world.client(who).post("/v1/tasks", json=world.spec(who))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _walk(world: World, who: str, params: dict, *, submit_between: str | None = None) -> list[int]:
    """Every page from the first to the one whose next_after is null."""
    seen: list[int] = []
    after = None
    for _ in range(100):
        query = {**params, "limit": 2, **({"after": after} if after is not None else {})}
        page = world.client(who).get("/v1/tasks", params=query)
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [t["id"] for t in body["items"]]
        after = body["next_after"]
        if after is None:
            return seen
        assert after == seen[-1] and body["after"] == query.get("after")
        if submit_between:
            _submit(world, submit_between)  # newer than every listed task: never on a later page
    raise AssertionError("the walk did not end")


@pytest.fixture
def tasks(world: World) -> dict[int, dict]:
    """14 tasks of alice (red) and carol (blue); every third cancelled."""
    ids = [_submit(world, "alice" if i % 2 else "carol") for i in range(14)]
    for task_id in ids[::3]:
        assert world.client("root").post(f"/v1/tasks/{task_id}/cancel").status_code == 202
    listed = world.client("root").get("/v1/tasks", params={"limit": 500}).json()
    return {t["id"]: t for t in listed["items"]}


@pytest.mark.parametrize(("who", "params"), [
    ("root", {}),
    ("root", {"status": "QUEUED"}),
    ("root", {"team": "red"}),
    ("root", {"status": "CANCELLED", "team": "blue"}),
    ("carol", {}),  # a user sees their own and their team's tasks only
    ("alice", {"status": "QUEUED,CANCELLED"}),
])
def test_a_cursor_walk_lists_every_matching_task_once_while_tasks_arrive(world, tasks, who, params):
    team_of = {"alice": "red", "carol": "blue"}
    expected = [i for i, t in sorted(tasks.items(), reverse=True)
                if (who == "root" or t["team"] == team_of[who])
                and (not params.get("team") or t["team"] == params["team"])
                and (not params.get("status") or t["status"] in params["status"].split(","))]
    assert expected, "the filter matches nothing: the test would prove nothing"
    walked = _walk(world, who, params, submit_between="alice" if who != "carol" else "carol")
    assert walked == expected  # every one once, newest first, none of those submitted meanwhile
    assert world.client("root").get("/v1/tasks").json()["total"] > len(tasks)  # tasks did arrive


def test_offset_and_cursor_agree_and_total_ignores_the_cursor(world, tasks):
    http = world.client("root")
    by_offset = http.get("/v1/tasks", params={"limit": 4, "offset": 4}).json()
    first = http.get("/v1/tasks", params={"limit": 4}).json()
    by_cursor = http.get("/v1/tasks", params={"limit": 4, "after": first["next_after"]}).json()
    assert [t["id"] for t in by_cursor["items"]] == [t["id"] for t in by_offset["items"]]
    assert by_cursor["total"] == by_offset["total"] == len(tasks)
    assert by_offset["next_after"] == by_offset["items"][-1]["id"]  # an offset page gives a cursor too
    # offset counts from the cursor
    skipped = http.get("/v1/tasks", params={"limit": 2, "after": first["next_after"], "offset": 2}).json()
    assert [t["id"] for t in skipped["items"]] == [t["id"] for t in by_offset["items"]][2:4]
    # an id that is not (or no longer) a task still works: the page starts below it
    top = max(tasks)
    assert http.get("/v1/tasks", params={"after": top + 1000}).json()["items"][0]["id"] == top
    last = http.get("/v1/tasks", params={"after": min(tasks)}).json()
    assert last["items"] == [] and last["next_after"] is None


@pytest.mark.parametrize("bad", ["abc", "0", "-5", "1.5", str(2**63), "", "12abc", "9" * 5000])
def test_a_bad_cursor_is_a_422_naming_the_field_and_the_fix(world, bad):
    response = world.client("root").get("/v1/tasks", params={"after": bad})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "bad_request" and error["request_id"]
    assert [d["path"] for d in error["details"]] == ["query.after"]
    assert "next_after of the previous page" in error["details"][0]["message"]
    assert "query.after" in error["message"]


def test_argus_list_pages_with_after(world, tasks):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
    env.update(ARGUS_SERVER=world.url, ARGUS_TOKEN=world.tokens["root"],
               ARGUS_CONFIG=str(world.settings.state_dir / "cli.toml"))

    def argus(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "argus.cli.main", "list", *args], env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    newest = sorted(tasks, reverse=True)
    first = argus("--limit", "5")
    assert f"--after {newest[4]} for more" in first
    second = argus("--limit", "5", "--after", str(newest[4]))
    listed = [int(line.split()[0]) for line in second.splitlines()[1:] if line.split()[0].isdigit()]
    assert listed == newest[5:10]
    page = json.loads(argus("--limit", "5", "--after", str(newest[4]), "--output", "json"))
    assert page["next_after"] == newest[9] and [t["id"] for t in page["items"]] == newest[5:10]
