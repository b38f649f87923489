"""``argus up`` / ``argus down``: a whole node pool as local processes, for one machine.

``up`` starts, each in its own process group: the head agent, N worker agents (each with its own
state folder and Ray ports; all share one Ray temp dir, as Ray nodes on one host must), and the
Argus server following the head record. Their pids go to ``<state>/up.json``; ``down`` stops
exactly those (checking each pid still runs our command line), then any Ray child group the
agents' status files name. The agents are started as ``python -m head`` / ``python -m worker``
subprocesses, so the core never imports them.
"""

from __future__ import annotations

import json
import socket
import shutil
import sys
import tempfile
import time
from pathlib import Path

import click
import httpx

from argus.cli.config import write_private
from argus.errors import Conflict
from argus.headrecord import RecordFollower
from argus.raynode import free_port, spawn, stop_group
from argus.services.identity import init_admin

UP_FILE = "up.json"


def _python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def _wait(what: str, check, timeout: float, logs: Path) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise click.ClickException(f"{what} did not come up within {timeout:.0f}s; logs are in {logs} "
                               "(run `argus down` to stop what started)")


def _workers_joined(state: Path, count: int, epoch: int) -> bool:
    joined = 0
    for i in range(count):
        try:
            status = json.loads((state / f"worker{i}" / "worker-status.json").read_text())
        except (OSError, ValueError):
            continue
        joined += status.get("joined_epoch") == epoch and status.get("child_pid") is not None
    return joined == count


def _bootstrap(server_state: Path, state: Path, name: str) -> Path:
    """The server's first admin (what `argus admin init` does), its token in a 0600 file.

    A server state kept from an earlier `up` already has an admin: its token file is reused."""
    token_file = state / "admin-token"
    try:
        token = init_admin(f"sqlite:///{server_state / 'argus.db'}", name)["token"]
    except Conflict:
        kept = server_state / "admin-token"
        if not kept.exists():
            raise click.ClickException(
                f"{server_state} already has an admin and no saved token; "
                "create one with `argus token create` or start from a new --state-dir") from None
        token = kept.read_text().strip()
    for path in (token_file, server_state / "admin-token"):
        write_private(path, token + "\n")
    return token_file


def _server_ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@click.command("up")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker agents to start.")
@click.option("--gpus-per-worker", type=int, default=4, show_default=True, help="Logical GPUs each.")
@click.option("--gpu-model", default="H100", show_default=True, help="GPU model each worker declares.")
@click.option("--cpus-per-worker", type=int, default=2, show_default=True)
@click.option("--state-dir", type=click.Path(path_type=Path), default=Path(".state/up"), show_default=True)
@click.option("--port", type=int, default=None, help="Argus server port (default: a free one).")
@click.option("--admin", "admin_name", default="admin", show_default=True,
              help="The server's first admin; its token goes to <state-dir>/admin-token (mode 600).")
@click.option("--timeout", type=float, default=180, show_default=True)
def up_cmd(workers: int, gpus_per_worker: int, gpu_model: str, cpus_per_worker: int, state_dir: Path,
           port: int | None, admin_name: str, timeout: float) -> None:
    """Start a head agent, N worker agents and the Argus server as local processes.

    The server's first admin is created on the way (its token is printed as a file to read, never
    on the terminal); the server's paths policy comes from the environment (ARGUS_SHARED_PATHS)."""
    state = state_dir.resolve()
    if (state / UP_FILE).exists():
        raise click.ClickException(f"{state / UP_FILE} exists: run `argus down --state-dir {state_dir}` first")
    shared = state / "shared"
    shared.mkdir(parents=True, exist_ok=True)
    server_state = state / "server"  # first, so that a bad --admin starts nothing
    server_state.mkdir(parents=True, exist_ok=True)
    token_file = _bootstrap(server_state, state, admin_name)
    ray_tmp = Path(tempfile.mkdtemp(prefix="argus-up-", dir="/tmp"))  # short: Ray's socket paths
    port = port or free_port()
    base = {"ARGUS_SHARED_ROOT": str(shared), "ARGUS_RAY_TEMP_DIR": str(ray_tmp), "ARGUS_NODE_IP": "127.0.0.1",
            "ARGUS_RAY_GCS_PORT": str(free_port()), "ARGUS_RAY_DASHBOARD_PORT": str(free_port()),
            "ARGUS_HEAD_RENEW_SECONDS": "2", "ARGUS_WORKER_POLL_SECONDS": "0.5"}
    record: dict = {"state_dir": str(state), "ray_temp_dir": str(ray_tmp), "processes": []}

    def start(name: str, argv: list[str], extra: dict[str, str] | None = None) -> None:
        proc = spawn(argv, env={**base, **(extra or {})}, log_path=state / f"{name}.log")
        record["processes"].append({"name": name, "pid": proc.pid, "argv": argv})
        (state / UP_FILE).write_text(json.dumps(record, indent=1))

    start("head", _python("head", "start", "--state-dir", str(state / "head")))
    record["metrics"] = {}
    for i in range(workers):
        # each worker serves node metrics and watches its own kernel-log file (append an Xid line
        # there to see the quarantine and drain without a GPU: docs/observability.md)
        record["metrics"][f"worker{i}"] = metrics_port = free_port()
        start(f"worker{i}", _python("worker", "start", "--state-dir", str(state / f"worker{i}"),
                                    "--node-name", f"{socket.gethostname().split('.')[0]}-worker{i}",
                                    "--metrics-port", str(metrics_port), "--metrics-host", "127.0.0.1",
                                    "--xid-log", str(state / f"worker{i}" / "kern.log"),
                                    "--num-gpus", str(gpus_per_worker), "--gpu-model", gpu_model,
                                    "--num-cpus", str(cpus_per_worker)))
    follower = RecordFollower(shared)
    _wait("the head agent", lambda: follower.poll() is not None, timeout, state)
    epoch = follower.last_good.epoch
    _wait(f"{workers} worker(s)", lambda: _workers_joined(state, workers, epoch), timeout, state)
    url = f"http://127.0.0.1:{port}"
    start("server", _python("api", "server"),
          {"ARGUS_STATE_DIR": str(server_state), "ARGUS_DB_URL": "", "ARGUS_PORT": str(port),
           "ARGUS_SERVER": url})
    _wait("the Argus server", lambda: _server_ready(url), timeout, state)
    record["server"] = url
    record["token_file"] = str(token_file)
    record["dashboard"] = follower.last_good.dashboard_url
    (state / UP_FILE).write_text(json.dumps(record, indent=1))
    click.echo(f"up: head epoch {epoch} ({record['dashboard']}), {workers} worker(s) joined, server {url}\n"
               f"    export ARGUS_SERVER={url} ARGUS_TOKEN=$(cat {token_file})   # admin {admin_name}\n"
               f"    logs and state: {state}")


def _ours(pid: int, argv: list[str]) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return [c.decode(errors="replace") for c in cmdline if c] == argv


def _child_groups(state: Path) -> list[int]:
    """Ray child groups the agents last reported (left behind if an agent was killed hard)."""
    pids = []
    for status in list(state.glob("worker*/worker-status.json")) + list(state.glob("head/head-status.json")):
        try:
            pid = json.loads(status.read_text()).get("child_pid")
        except (OSError, ValueError):
            continue
        try:
            cmdline = Path(f"/proc/{int(pid)}/cmdline").read_bytes() if pid else b""
        except OSError:
            continue
        if b"ray" in cmdline and b"start" in cmdline:  # still the `ray start --block` we supervised
            pids.append(int(pid))
    return pids


@click.command("down")
@click.option("--state-dir", type=click.Path(path_type=Path), default=Path(".state/up"), show_default=True)
def down_cmd(state_dir: Path) -> None:
    """Stop exactly what `argus up` started (server, workers, head), newest first."""
    state = state_dir.resolve()
    try:
        record = json.loads((state / UP_FILE).read_text())
    except FileNotFoundError as exc:
        raise click.ClickException(f"nothing to stop: no {state / UP_FILE}") from exc
    for proc in reversed(record["processes"]):
        if _ours(proc["pid"], proc["argv"]):
            click.echo(f"down: stopping {proc['name']} (process group {proc['pid']})")
            stop_group(proc["pid"], timeout=30)
    for pgid in _child_groups(state):
        click.echo(f"down: stopping leftover Ray group {pgid}")
        stop_group(pgid, timeout=5)
    shutil.rmtree(record.get("ray_temp_dir", ""), ignore_errors=True)
    (state / UP_FILE).unlink()
    click.echo("down: stopped")
