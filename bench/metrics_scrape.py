"""What one Prometheus scrape of ``GET /metrics`` costs the server, beside one ordinary API read.

A real SQLite file with ``--tasks`` tasks (a tenth of them active, each with an attempt placed on
one of ``--nodes`` nodes; the rest ended), ``--events`` status events each, three teams with
quotas. Prints the median wall time of ``ServerMetrics.render()`` (DB reads, node rows, quota
views, the event follower) beside ``list_tasks(limit=50)`` (what ``argus list`` costs the server),
and their ratio. Not a test: it asserts nothing.

    python bench/metrics_scrape.py [--tasks 20000] [--nodes 200] [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from argus.cluster import ClusterRef
from argus.db.engine import Database
from argus.db.migrate import upgrade
from argus.db.models import Attempt, Event, Task
from argus.metrics.server import ServerMetrics
from argus.services.tasks import list_tasks
from argus.settings import Settings

TEAMS = {t: {"quota": {"H100": {"nominal": 64}}} for t in ("risk", "nlp", "cv")}


class NoRay:
    def current(self) -> ClusterRef:
        return ClusterRef(None, why_not="bench: no Ray")


def fill(db: Database, tasks: int, nodes: int, events: int) -> None:
    now = time.time()
    with db.write() as session:
        for i in range(1, tasks + 1):
            active = i % 10 == 0
            status = "RUNNING" if active else ("SUCCEEDED" if i % 3 else "FAILED")
            team = ("risk", "nlp", "cv")[i % 3]
            session.add(Task(id=i, name=f"t{i}", kind="custom", priority=("realtime", "online", "batch")[i % 3],
                             team=team, owner=f"u{i % 50}", status=status, reason="", spec={}, spec_text="",
                             checkpoint_dir=f"/c/{i}", nodes=1, gpus_per_node=8, cpus_per_node=4, gpu_model="H100",
                             created_at=now - 3600, updated_at=now, queued_at=now - 3600, attempts=1,
                             finished_at=None if active else now - 60))
            if i % 1000 == 0:
                session.flush()
        session.flush()
        for i in range(1, tasks + 1):
            session.add(Attempt(task_id=i, number=1, submission_id=f"argus-b-{i}-1", status="RUNNING",
                                placement=[f"node-{i % nodes}"], created_at=now - 3000, started_at=now - 3000))
            for k in range(events):
                session.add(Event(task_id=i, attempt=1, ts=now - 3600 + k, to_status="QUEUED" if k == 0 else "RUNNING"))


def median_ms(fn, runs: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--events", type=int, default=4)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(state_dir=Path(tmp), teams=TEAMS, metrics_audit_verify_seconds=0)
        db = Database(settings.database_url)
        upgrade(db)
        fill(db, args.tasks, args.nodes, args.events)
        metrics = ServerMetrics(db, settings, NoRay())
        size = len(metrics.render())
        scrape = median_ms(metrics.render, args.runs)
        listing = median_ms(lambda: list_tasks(db, limit=50), args.runs)
        print(f"{args.tasks} tasks ({args.tasks // 10} active on {args.nodes} nodes), {args.events} events each")
        print(f"{'':28}{'median ms':>10}")
        print(f"{'GET /metrics (render)':28}{scrape:>10.1f}   ({size / 1024:.0f} KiB of text)")
        print(f"{'argus list (list_tasks 50)':28}{listing:>10.1f}")
        print(f"{'ratio metrics/list':28}{scrape / listing:>10.1f}x")
        db.dispose()


if __name__ == "__main__":
    main()
