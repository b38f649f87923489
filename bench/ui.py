"""Web UI page times beside the REST API serving the same data, on a real SQLite file over real
HTTP: the task list (HTML page, the JSON it polls, and GET /v1/tasks), one task (page, its JSON,
and GET /v1/tasks/{id} + /events), and the queue (page and GET /v1/queue), with N tasks queued.

    .venv/bin/python bench/ui.py [--tasks 2000] [--runs 30]

Ray is left out (no cluster: the planner is not consulted on these reads); not part of the tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app  # noqa: E402
from argus.cluster import ClusterRef  # noqa: E402
from argus.services import tasks as task_service  # noqa: E402
from taskspec import load_spec_data  # noqa: E402
from tests.api.conftest import build_world  # noqa: E402
from tests.conftest import ServerThread  # noqa: E402


class NoRay:
    def current(self) -> ClusterRef:
        return ClusterRef(None, why_not="no Ray in this benchmark")


def seed(world_settings, db, n: int) -> int:  # noqa: ANN001
    code = world_settings.shared_root / "users" / "alice" / "code"
    spec = load_spec_data({"kind": "custom", "name": "bench", "code": str(code),
                           "command": ["python", "train.py"], "resources": {"nodes": 1, "cpus": 1}})
    last = 0
    for _ in range(n):
        last = task_service.create_task(db, world_settings, spec, owner="alice", team="red")["id"]
    return last


def median_ms(client: httpx.Client, path: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return statistics.median(times)


def browser_client(url: str, token: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    form = client.get("/ui/login")
    csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    answer = client.post("/ui/login", data={"token": token, "csrf": csrf})
    assert answer.status_code == 303, answer.text
    return client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings, db, tokens = build_world(Path(tmp))
        last = seed(settings, db, args.tasks)
        app = create_app(settings, provider=NoRay(), db=db, embed_scheduler=False)
        with ServerThread(app) as server:
            ui = browser_client(server.url, tokens["alice"])
            api = httpx.Client(base_url=server.url, timeout=30,
                               headers={"Authorization": f"Bearer {tokens['alice']}"})
            rows = [
                ("task list", ["/ui/tasks", "/ui/api/tasks"], ["/v1/tasks?limit=100"]),
                ("one task", [f"/ui/tasks/{last}", f"/ui/api/tasks/{last}"],
                 [f"/v1/tasks/{last}", f"/v1/tasks/{last}/events"]),
                ("queue", ["/ui/queue"], ["/v1/queue"]),
            ]
            print(f"{args.tasks} queued tasks, median of {args.runs} GETs (ms)")
            print(f"{'view':<10} {'UI page':>9} {'UI json':>9} {'REST API':>9} {'page/API':>9}")
            for name, ui_paths, api_paths in rows:
                page = median_ms(ui, ui_paths[0], args.runs)
                poll = median_ms(ui, ui_paths[1], args.runs) if len(ui_paths) > 1 else float("nan")
                rest = sum(median_ms(api, p, args.runs) for p in api_paths)
                print(f"{name:<10} {page:9.1f} {poll:9.1f} {rest:9.1f} {page / rest:9.2f}")


if __name__ == "__main__":
    main()
