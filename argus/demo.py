"""``make demo``: bring Argus up locally on embedded defaults and run a real task end to end.

Starts a Ray head and one worker (4 logical GPUs), fetches the verl 0.9.1 source tree (its
config only matters here), starts ``argus server``, submits examples/custom-train.yaml and
follows it to SUCCEEDED, shows ``argus list`` and a dry run of examples/verl-grpo.yaml, then
stops exactly what it started.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from argus.raynode import NodeProcess, free_port, head_argv, spawn, worker_argv
from argus.verl_fetch import fetch_verl_tree

REPO = Path(__file__).resolve().parents[1]


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def wait_http(url: str, proc: NodeProcess, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if not proc.alive():
            break
        time.sleep(0.5)
    raise SystemExit(f"demo: {what} did not come up (see {proc.log_path})")


def argus(env: dict[str, str], *args: str) -> int:
    print(f"$ argus {' '.join(args)}", flush=True)
    return subprocess.run([sys.executable, "-m", "argus.cli.main", *args], env=env, cwd=REPO).returncode


def admin_init(env: dict[str, str], name: str) -> str:
    result = subprocess.run([sys.executable, "-m", "argus.cli.main", "admin", "init", name],
                            env=env, cwd=REPO, capture_output=True, text=True, check=True)
    print(result.stdout, end="")
    return result.stdout.strip().splitlines()[-1]


def main() -> int:
    state = REPO / ".state" / "demo"
    shutil.rmtree(state, ignore_errors=True)
    shared = state / "shared"
    shared.mkdir(parents=True)
    ray_tmp = Path(tempfile.mkdtemp(prefix="argus-demo-", dir="/tmp"))
    started: list[NodeProcess] = []
    try:
        say("starting a local Ray cluster: a head and one worker with 4 logical GPUs")
        gcs, dash = free_port(), free_port()
        head = spawn(head_argv(gcs_port=gcs, dashboard_host="127.0.0.1", dashboard_port=dash,
                               temp_dir=str(ray_tmp / "head")), log_path=state / "ray-head.log")
        started.append(head)
        wait_http(f"http://127.0.0.1:{dash}/api/version", head, "the Ray head")
        worker = spawn(worker_argv(address=f"127.0.0.1:{gcs}", num_cpus=2, num_gpus=4,
                                   resources={"argus_worker": 1000.0, "accelerator_type:H100": 1.0},
                                   temp_dir=str(ray_tmp / "head")), log_path=state / "ray-worker.log")
        started.append(worker)

        say("fetching the verl 0.9.1 source tree (for its hydra config) into the shared root")
        tree = fetch_verl_tree("0.9.1", shared / "code" / "verl-0.9.1", REPO / ".cache" / "verl")
        print(f"verl tree: {tree}")

        port = free_port()
        env = {**os.environ, "ARGUS_STATE_DIR": str(state), "ARGUS_SHARED_ROOT": str(shared),
               "ARGUS_RAY_ADDRESS": f"http://127.0.0.1:{dash}", "ARGUS_PORT": str(port),
               "ARGUS_SERVER": f"http://127.0.0.1:{port}", "ARGUS_TICK_SECONDS": "0.5",
               # the examples (and the verl example's /gpfs paths) are registered shared paths
               "ARGUS_SHARED_PATHS": json.dumps([str(REPO / "examples"), "/gpfs"])}
        say("argus admin init demo: the first admin, its token printed once")
        env["ARGUS_TOKEN"] = admin_init(env, "demo")
        say(f"starting the Argus server on http://127.0.0.1:{port} (scheduler embedded)")
        server = spawn([sys.executable, "-m", "argus.cli.main", "server"], env=env,
                       log_path=state / "server.log")
        started.append(server)
        wait_http(f"http://127.0.0.1:{port}/readyz", server, "the Argus server")

        say("submitting examples/custom-train.yaml and following it")
        rc = argus(env, "submit", "examples/custom-train.yaml", "--follow")
        say("argus list")
        argus(env, "list")
        say("dry run of examples/verl-grpo.yaml: the exact Ray entrypoint, checked against verl's config")
        argus(env, "submit", "examples/verl-grpo.yaml", "--dry-run")
        say("demo " + ("succeeded" if rc == 0 else "FAILED: the task did not succeed"))
        return rc
    finally:
        say("stopping what the demo started")
        for proc in reversed(started):
            proc.stop()
        shutil.rmtree(ray_tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
