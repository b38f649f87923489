"""CLI start-up: ``argus --help``, ``argus status``, ``argus list`` beside ``ray job --help``.

Each command runs as its own process, as a user runs it (median and min of N runs, wall clock).
``status`` and ``list`` talk to a real Argus server (in this process, scheduler off, 20 tasks
queued), so their figures include one HTTP round trip.

    .venv/bin/python bench/cli.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app  # noqa: E402
from argus.client import ArgusClient  # noqa: E402
from argus.cluster import StaticCluster  # noqa: E402
from argus.services.identity import bootstrap_admin  # noqa: E402
from argus.settings import Settings  # noqa: E402
from tests.conftest import ServerThread  # noqa: E402

BIN = Path(sys.executable).parent
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, float, float]:
    """(median wall, min wall, median CPU) seconds of ``argv`` over ``runs`` runs.

    CPU time (user + system of the process) is what the command costs when the machine is not
    shared; wall time is what the user waited, here on a loaded machine too.
    """
    walls, cpus = [], []
    for _ in range(runs):
        cpu0, start = _child_cpu(), time.perf_counter()
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        walls.append(time.perf_counter() - start)
        cpus.append(_child_cpu() - cpu0)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {result.returncode}: {result.stderr[-500:]}")
    return statistics.median(walls), min(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="argus-bench-cli-"))
    try:
        settings = Settings(state_dir=root / "state", shared_root=root / "shared",
                            ray_address="http://127.0.0.1:9", embed_scheduler=False,
                            shared_paths=[EXAMPLES])
        app = create_app(settings, provider=StaticCluster("http://127.0.0.1:9"))
        token = bootstrap_admin(app.state.ctx.db, "bench")["token"]
        spec = {"kind": "custom", "name": "bench", "code": str(EXAMPLES / "tiny_train"),
                "command": ["python", "-c", "pass"], "resources": {"nodes": 1, "cpus": 1}}
        with ServerThread(app) as server:
            client = ArgusClient(server.url, token=token)
            first = client.submit(spec)["id"]
            for _ in range(19):
                client.submit(spec)
            env = {**os.environ, "ARGUS_SERVER": server.url, "ARGUS_TOKEN": token,
                   "ARGUS_CONFIG": str(root / "none.toml")}
            rows = [
                ("argus --help", timed([str(BIN / "argus"), "--help"], env, args.runs)),
                (f"argus status {first}", timed([str(BIN / "argus"), "status", str(first)], env, args.runs)),
                ("argus list", timed([str(BIN / "argus"), "list"], env, args.runs)),
                ("ray job --help", timed([str(BIN / "ray"), "job", "--help"], env, args.runs)),
            ]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    peer = rows[-1][1][0]
    load = os.getloadavg()[0]
    print(f"\nCLI start-up, {args.runs} runs each (load average {load:.1f} on {os.cpu_count()} CPUs)")
    peer_cpu = rows[-1][1][2]
    print(f"{'command':24} {'median ms':>10} {'min ms':>8} {'cpu ms':>8} {'wall ratio':>11} "
          f"{'cpu ratio':>10}")
    for name, (median, best, cpu) in rows:
        print(f"{name:24} {1000 * median:10.0f} {1000 * best:8.0f} {1000 * cpu:8.0f} "
              f"{median / peer:11.2f} {cpu / peer_cpu:10.2f}")
    print("(ratios: argus / ray job --help)")


if __name__ == "__main__":
    main()
