"""10,000 tasks tracked: the server's memory and the task list's latency at any offset.

Queues N tasks through the service layer into a fresh SQLite database (as the API does), then
starts ``argus server`` as its own process (scheduler off: only the API is measured), lists
``GET /v1/tasks?limit=50`` at the first, middle and last page, each both ways: by ``offset`` and
by the keyset cursor ``after`` (the id ending the page before, as ``next_after`` gives it), side
by side, and reads the server's RSS.

    .venv/bin/python bench/list_scale.py [--tasks 10000] [--requests 40]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from argus.db.engine import Database  # noqa: E402
from argus.db.migrate import upgrade  # noqa: E402
from argus.raynode import free_port  # noqa: E402
from argus.services import tasks as task_service  # noqa: E402
from argus.services.identity import bootstrap_admin  # noqa: E402
from argus.settings import Settings  # noqa: E402
from taskspec import load_spec_data  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed(client: httpx.Client, ways: list[dict], requests: int) -> list[tuple[float, float]]:
    """p50 and p95 of GET /v1/tasks for each set of params in ``ways``, each way in its own run
    after three untimed requests (not interleaved: a deep offset scan would evict the pages the
    cursor's page finds cached); the pages must be the same."""
    figures, pages = [], []
    for params in ways:
        times = []
        for n in range(3 + requests):
            t0 = time.perf_counter()
            response = client.get("/v1/tasks", params=params)
            if n >= 3:
                times.append(time.perf_counter() - t0)
            response.raise_for_status()
        pages.append([t["id"] for t in response.json()["items"]])
        times.sort()
        figures.append((statistics.median(times), times[int(0.95 * (len(times) - 1))]))
    if any(page != pages[0] for page in pages):
        raise SystemExit(f"the pages differ: {ways}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="argus-bench-list-"))
    env = {**os.environ, "ARGUS_STATE_DIR": str(root / "state"), "ARGUS_SHARED_ROOT": str(root / "shared"),
           "ARGUS_SHARED_PATHS": json.dumps([str(EXAMPLES)]), "ARGUS_EMBED_SCHEDULER": "false",
           "ARGUS_RAY_ADDRESS": "http://127.0.0.1:9"}
    proc = None
    try:
        settings = Settings(state_dir=root / "state", shared_root=root / "shared", shared_paths=[EXAMPLES])
        db = Database(settings.database_url)
        upgrade(db)
        token = bootstrap_admin(db, "bench")["token"]
        spec = load_spec_data({"kind": "custom", "name": "t", "code": str(EXAMPLES / "tiny_train"),
                               "command": ["python", "train.py"], "resources": {"nodes": 1, "cpus": 1}},
                              source="t")
        start = time.perf_counter()
        for _ in range(args.tasks):
            task_service.create_task(db, settings, spec, owner="bench", team=None)
        queued_s = time.perf_counter() - start
        db.dispose()
        port = free_port()
        proc = subprocess.Popen([str(Path(sys.executable).parent / "argus"), "server", "--port", str(port)],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if client.get("/healthz").status_code < 500:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            rows = []
            for label, offset in (("first page", 0), ("middle page", args.tasks // 2),
                                  ("last page", max(0, args.tasks - 50))):
                after = {}
                if offset:  # the cursor that reaches the same page: the id just before it
                    before = client.get("/v1/tasks", params={"limit": 1, "offset": offset - 1}).json()
                    after = {"after": before["items"][0]["id"]}
                by_offset, by_cursor = timed(client, [{"limit": 50, "offset": offset},
                                                      {"limit": 50, **after}], args.requests)
                rows.append((label, offset, *by_offset, *by_cursor))
            rss = rss_mb(proc.pid)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{args.tasks} tasks queued in {queued_s:.0f} s; argus server RSS {rss:.0f} MB (goal < 300 MB); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'GET /v1/tasks?limit=50':24}{'depth':>7}{'offset p50':>12}{'p95 ms':>8}"
          f"{'after p50':>11}{'p95 ms':>8}{'p95 after/offset':>18}  goal p95 < 100 ms at any depth")
    for label, offset, p50, p95, k50, k95 in rows:
        print(f"{label:24}{offset:>7}{1000 * p50:12.1f}{1000 * p95:8.1f}{1000 * k50:11.1f}{1000 * k95:8.1f}"
              f"{k95 / p95:18.2f}")


if __name__ == "__main__":
    main()
