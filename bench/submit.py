"""Submission throughput and latency: the Argus API against Ray's own JobSubmissionClient.

Starts a local Ray head + worker and an Argus server (scheduler off, so only the submit path
is measured), then has N concurrent clients submit M tasks each, to Argus over HTTP and to
Ray's Jobs API with ``submit_job``, and prints both side by side.

    .venv/bin/python bench/submit.py [--clients 8] [--per-client 25]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app  # noqa: E402
from argus.client import ArgusClient  # noqa: E402
from argus.cluster import StaticCluster  # noqa: E402
from argus.services.identity import bootstrap_admin  # noqa: E402
from argus.settings import Settings  # noqa: E402
from tests.conftest import ServerThread  # noqa: E402
from tests.localray import start_local_ray  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_clients(n_clients: int, per_client: int, make_submit) -> tuple[float, list[float]]:  # noqa: ANN001
    latencies: list[float] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        submit = make_submit(i)
        for j in range(per_client):
            t0 = time.perf_counter()
            submit(j)
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)

    start = time.perf_counter()
    with ThreadPoolExecutor(n_clients) as pool:
        list(pool.map(worker, range(n_clients)))
    return time.perf_counter() - start, latencies


def summary(name: str, wall: float, lat: list[float]) -> dict:
    lat = sorted(lat)
    return {"name": name, "n": len(lat), "per_s": len(lat) / wall,
            "p50_ms": 1000 * statistics.median(lat), "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--per-client", type=int, default=25)
    args = parser.parse_args()

    ray = start_local_ray([{"cpus": 2, "gpus": 0}])
    root = Path(tempfile.mkdtemp(prefix="argus-bench-"))
    try:
        settings = Settings(state_dir=root / "state", shared_root=root / "shared",
                            ray_address=ray.dashboard_url, embed_scheduler=False,
                            shared_paths=[EXAMPLES])
        app = create_app(settings, provider=StaticCluster(ray.dashboard_url))
        token = bootstrap_admin(app.state.ctx.db, "bench")["token"]
        spec = {"kind": "custom", "name": "bench", "code": str(EXAMPLES / "tiny_train"),
                "command": ["python", "-c", "pass"], "resources": {"nodes": 1, "cpus": 1}}
        with ServerThread(app) as server:
            def argus_submit(_i: int):  # noqa: ANN202
                client = ArgusClient(server.url, token=token)
                return lambda _j: client.submit(spec)

            wall, lat = run_clients(args.clients, args.per_client, argus_submit)
            argus_row = summary("argus POST /v1/tasks", wall, lat)

        from ray.job_submission import JobSubmissionClient

        def ray_submit(_i: int):  # noqa: ANN202
            client = JobSubmissionClient(ray.dashboard_url)
            # The job itself never gets resources (it asks for a resource nobody has), so only
            # the submit path is measured, as for Argus with its scheduler off.
            return lambda _j: client.submit_job(
                entrypoint="true", submission_id=f"bench-{uuid.uuid4().hex[:12]}",
                entrypoint_resources={"bench_never": 1})

        wall, lat = run_clients(args.clients, args.per_client, ray_submit)
        ray_row = summary("ray JobSubmissionClient.submit_job", wall, lat)
    finally:
        ray.stop()
        shutil.rmtree(ray.root, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)

    print(f"\n{args.clients} concurrent clients x {args.per_client} submissions each")
    print(f"{'':38} {'accepted/s':>11} {'p50 ms':>9} {'p99 ms':>9}")
    for row in (argus_row, ray_row):
        print(f"{row['name']:38} {row['per_s']:11.1f} {row['p50_ms']:9.1f} {row['p99_ms']:9.1f}")
    print(f"{'ratio argus/ray':38} {argus_row['per_s'] / ray_row['per_s']:11.2f} "
          f"{argus_row['p50_ms'] / ray_row['p50_ms']:9.2f} {argus_row['p99_ms'] / ray_row['p99_ms']:9.2f}")


if __name__ == "__main__":
    main()
