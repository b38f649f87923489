"""Scheduler tick cost against the number of ended tasks in the database (issue 11: flat).

For each count of ended tasks (default 0, 10,000 and 50,000) a fresh SQLite file gets those
tasks as a long-running installation leaves them (each with its attempt, four events, one in ten
preempted once; bulk-inserted in one transaction, consistent with the migrations' schema), then
the same live load through the service layer: ``--running`` one-GPU tasks running on a fake Ray
cluster of 8-GPU nodes (Ray faked at its adapter's boundary, as in the API tests) and
``--queued`` more waiting for room. After warm-up ticks (admission, the hourly event compaction)
it times ``--ticks`` steady ticks of the real loop (reconcile, snapshot, plan, reasons, fair-share
usage, the lease; nothing changes between them) and the snapshot alone, CPU and wall, and prints
them side by side with the ratio to the case without ended tasks. The hourly event compaction
(``argus/services/gc.py``, which does read ended tasks) is timed once per case beside them.

    .venv/bin/python bench/tick_scale.py [--ended 0,10000,50000] [--running 128] [--queued 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from argus.control.loop import Scheduler  # noqa: E402
from argus.db.engine import Database  # noqa: E402
from argus.db.migrate import upgrade  # noqa: E402
from argus.ray_adapter import NodeInfo  # noqa: E402
from argus.services import gc  # noqa: E402
from argus.services import tasks as task_service  # noqa: E402
from argus.services.snapshot import build_snapshot, worker_nodes  # noqa: E402
from argus.settings import Settings  # noqa: E402
from taskspec import load_spec_data  # noqa: E402
from tests.fakeray import FakeProvider, FakeRay  # noqa: E402
from tests.history import TEAMS, insert_ended  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SPEC = {"kind": "custom", "name": "t", "code": str(EXAMPLES / "tiny_train"), "command": ["python", "train.py"],
        "resources": {"nodes": 1, "cpus": 1, "gpus_per_node": 1}}


def nodes(count: int) -> list[NodeInfo]:
    return [NodeInfo(f"w{i}", True, False, f"10.0.{i // 250}.{i % 250 + 1}",
                     {"CPU": 64, "GPU": 8, "argus_worker": 1000, "accelerator_type:H100": 1})
            for i in range(count)]


def measure(ended: int, running: int, queued: int, ticks: int) -> dict:
    root = Path(tempfile.mkdtemp(prefix="argus-bench-tick-"))
    try:
        settings = Settings(state_dir=root / "state", shared_root=root / "shared", shared_paths=[EXAMPLES],
                            tick_seconds=1.0)
        db = Database(settings.database_url)
        upgrade(db)
        insert_s = insert_ended(db, ended, settings.checkpoint_root, SPEC)
        spec = load_spec_data(SPEC, source="t")
        for i in range(running + queued):
            task_service.create_task(db, settings, spec, owner=f"user{i % 20}", team=TEAMS[i % 3])
        ray = FakeRay(node_list=nodes((running + 7) // 8))
        scheduler = Scheduler(db, settings, FakeProvider(ray))
        for _ in range(4):  # admit, submit, see RUNNING; the first tick also compacts events
            scheduler.tick()
        live = sum(1 for s in ray.jobs.values() if s == "RUNNING")
        if live != running:
            raise SystemExit(f"{live} tasks running, expected {running}")
        wall, cpu = [], []
        for _ in range(ticks):
            w0, c0 = time.perf_counter(), time.process_time()
            scheduler.tick()
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        policy = scheduler.admitter.current_policy()
        workers = worker_nodes(ray.node_list, settings.worker_resource)
        snap_cpu = []
        for _ in range(ticks):
            c0 = time.process_time()
            snapshot = build_snapshot(db, settings, workers, True, policy)
            snap_cpu.append(time.process_time() - c0)
        if len(snapshot.running) != running or len(snapshot.pending) != queued:
            raise SystemExit(f"snapshot has {len(snapshot.running)} running, {len(snapshot.pending)} pending")
        c0 = time.process_time()
        gc.compact_events(db, settings)
        compact_cpu = time.process_time() - c0
        size = settings.database_url.removeprefix("sqlite:///")
        db.dispose()
        return {"ended": ended, "insert_s": insert_s, "wall": statistics.median(wall),
                "cpu": statistics.mean(cpu), "snap": statistics.mean(snap_cpu), "compact": compact_cpu,
                "mb": os.path.getsize(size) / 1e6}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ended", default="0,10000,50000", help="comma-separated counts of ended tasks")
    parser.add_argument("--running", type=int, default=128)
    parser.add_argument("--queued", type=int, default=200)
    parser.add_argument("--ticks", type=int, default=30)
    args = parser.parse_args()
    rows = []
    for count in (int(c) for c in args.ended.split(",")):
        rows.append(measure(count, args.running, args.queued, args.ticks))
        print(f"  {count} ended tasks inserted in {rows[-1]['insert_s']:.1f} s", file=sys.stderr)
    base = rows[0]
    print(f"\nsteady scheduler ticks: {args.running} running, {args.queued} queued on "
          f"{(args.running + 7) // 8} fake 8-GPU nodes; {args.ticks} ticks per case; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'ended tasks':>12}{'DB MB':>8}{'tick CPU ms':>13}{'ratio':>7}{'tick wall p50':>15}{'ratio':>7}"
          f"{'snapshot CPU':>14}{'ratio':>7}{'hourly compaction CPU ms':>26}   goal: ratios ≈ 1")
    for r in rows:
        print(f"{r['ended']:>12}{r['mb']:8.1f}{1000 * r['cpu']:13.1f}{r['cpu'] / base['cpu']:7.2f}"
              f"{1000 * r['wall']:15.1f}{r['wall'] / base['wall']:7.2f}{1000 * r['snap']:14.2f}"
              f"{r['snap'] / base['snap']:7.2f}{1000 * r['compact']:26.1f}")


if __name__ == "__main__":
    main()
