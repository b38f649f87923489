"""Rejoin time after a head restart: the worker agent beside plain Ray, in network namespaces.

    sudo .venv/bin/python bench/rejoin.py [--runs 3] [--workers 2] [--plain-timeout 90]

Each run: a head agent and N worker agents, each in its own namespace; the head host is killed
and its head restarted on the same address (a new session). We print the seconds from "new head
record seen" to "all workers seen ALIVE by the new head", median over the runs. Plain Ray in the
same situation (raylets started with `ray start --address … --block`, no agent): the old raylets
either exit after their GCS reconnect timeout or are refused by the new head ("Wrong cluster ID
token"); we print how many of them came back within --plain-timeout (normally none).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from argus.raynode import start_lock, wait_started, worker_argv  # noqa: E402
from tests.cluster.netlab import Host, NetLab, unavailable_reason  # noqa: E402
from tests.cluster.test_node_pool import Pool  # noqa: E402


@contextmanager
def lab_with_head(workers: int) -> Iterator[tuple[NetLab, Pool, Host, list[Host]]]:
    """A lab with a head host (agent started) and ``workers`` worker hosts. Torn down after;
    the folder with the logs is removed only when the run got through."""
    lab = NetLab().up()
    pool = Pool(lab, Path(tempfile.mkdtemp(prefix="a3bench-")))
    try:
        head = lab.add_host("h1")
        hosts = [lab.add_host(f"w{i}") for i in range(workers)]
        pool.start_head(head)
        yield lab, pool, head, hosts
    finally:
        lab.down()
        shutil.rmtree(pool.ray_tmp, ignore_errors=True)
    shutil.rmtree(pool.root, ignore_errors=True)


def agent_run(workers: int) -> float:
    with lab_with_head(workers) as (_lab, pool, head, hosts):
        for host in hosts:
            pool.start_worker(host)
        first, _ = pool.wait_record(0)
        pool.wait_joined(first, [h.ip for h in hosts])
        pool.kill_head(head)
        pool.start_head(head)
        second, seen_at = pool.wait_record(first.epoch)
        return pool.wait_joined(second, [h.ip for h in hosts]) - seen_at


def plain_run(workers: int, timeout: float) -> int:
    """Raylets without an agent: how many are back under the new head within ``timeout``."""
    with lab_with_head(workers) as (lab, pool, head, hosts):
        first, _ = pool.wait_record(0)
        env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(pool.shared / "cluster" / "ray-token")}
        for host in hosts:  # one at a time: raylets in one temp dir race for socket names
            argv = worker_argv(address=first.gcs_address, num_cpus=1, num_gpus=0,
                               resources={"argus_worker": 1000.0}, temp_dir=str(pool.ray_tmp), node_ip=host.ip)
            with start_lock(pool.ray_tmp):
                wait_started(lab.start_raw(host, argv, env, pool.root / f"{host.name}-plain.log"))
        pool.wait_joined(first, [h.ip for h in hosts])
        pool.kill_head(head)
        pool.start_head(head)
        second, _ = pool.wait_record(first.epoch)
        deadline = time.monotonic() + timeout
        back = 0
        while time.monotonic() < deadline:
            back = sum(pool.workers_per_ip(second)[h.ip] >= 1 for h in hosts)
            if back == workers:
                break
            time.sleep(1)
        return back


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--plain-timeout", type=float, default=90.0)
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        print(f"bench/rejoin.py: {reason}", file=sys.stderr)
        return 2
    times = []
    for run in range(args.runs):
        times.append(agent_run(args.workers))
        print(f"run {run + 1}/{args.runs}: agent rejoin {times[-1]:.1f}s", flush=True)
    plain = plain_run(args.workers, args.plain_timeout)
    print(f"with the worker agent: median {statistics.median(times):.1f}s to all {args.workers} workers "
          f"joined (runs: {', '.join(f'{t:.1f}' for t in times)})")
    print(f"plain Ray (no agent):  {plain} of {args.workers} workers back within {args.plain_timeout:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
