"""Run one Ray node (``ray start --block``) as a child in its own process group.

Used by the head and worker agents, ``argus up`` and the tests. Never ``ray stop``: that kills
every Ray process on the host. We signal only the process group we started.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

START_LOCK = "argus-node-start.lock"
STARTED = b"Ray runtime started"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def ray_binary() -> str:
    candidate = Path(sys.executable).parent / "ray"
    return str(candidate) if candidate.exists() else "ray"


@dataclass
class NodePorts:
    """Every port a node binds, chosen up front so several nodes can share one host."""

    node_manager: int = field(default_factory=free_port)
    object_manager: int = field(default_factory=free_port)
    agent_listen: int = field(default_factory=free_port)
    agent_grpc: int = field(default_factory=free_port)
    metrics: int = field(default_factory=free_port)
    runtime_env: int = field(default_factory=free_port)

    def args(self) -> list[str]:
        return [
            f"--node-manager-port={self.node_manager}",
            f"--object-manager-port={self.object_manager}",
            f"--dashboard-agent-listen-port={self.agent_listen}",
            f"--dashboard-agent-grpc-port={self.agent_grpc}",
            f"--metrics-export-port={self.metrics}",
            f"--runtime-env-agent-port={self.runtime_env}",
        ]


def head_argv(*, gcs_port: int, dashboard_host: str, dashboard_port: int, temp_dir: str,
              node_ip: str | None = None, num_cpus: int = 0, ports: NodePorts | None = None) -> list[str]:
    argv = [ray_binary(), "start", "--head", "--block", f"--port={gcs_port}",
            "--include-dashboard=true", f"--dashboard-host={dashboard_host}",
            f"--dashboard-port={dashboard_port}", f"--temp-dir={temp_dir}",
            f"--num-cpus={num_cpus}", "--num-gpus=0", "--disable-usage-stats",
            f"--ray-client-server-port={free_port()}"]
    if node_ip:
        argv.append(f"--node-ip-address={node_ip}")
    return argv + (ports or NodePorts()).args()


def worker_argv(*, address: str, num_cpus: int, num_gpus: float, resources: dict[str, float],
                temp_dir: str, node_ip: str | None = None, ports: NodePorts | None = None) -> list[str]:
    argv = [ray_binary(), "start", "--block", f"--address={address}", f"--num-cpus={num_cpus}",
            f"--num-gpus={int(num_gpus)}", f"--resources={json.dumps(resources)}",
            f"--temp-dir={temp_dir}", "--disable-usage-stats"]
    if node_ip:
        argv.append(f"--node-ip-address={node_ip}")
    return argv + (ports or NodePorts()).args()


@dataclass
class NodeProcess:
    """A supervised ``ray start --block`` child; ``pid`` is also its process-group id."""

    popen: subprocess.Popen
    argv: list[str]
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the whole group, then SIGKILL what is left; then every process that was
        below it when the stop began and still runs. Only what this node started.

        Ray runs each worker and each job's driver in a process group (and a driver in a session)
        of its own, so stopping the node's group leaves them running: a job driver of a node that
        left its head was seen training on beside the attempt that replaced it, both writing the
        same checkpoint directory (tests/cluster/test_node_pool.py)."""
        below = descendants(self.pid)
        self._stop_group(timeout)
        kill_left(below)

    def _stop_group(self, timeout: float) -> None:
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(wait)
                if sig is signal.SIGKILL or not _group_alive(self.pid):
                    break
            except subprocess.TimeoutExpired:
                continue
        _wait_group_gone(self.pid, 5.0)


def _stat(pid: int | str) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) from /proc/PID/stat; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the name may hold spaces and parentheses
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> list[tuple[int, int]]:
    """(pid, start time) of every process below ``root`` now (Linux /proc), parents first."""
    children: dict[int, list[tuple[int, int]]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (stat := _stat(entry.name)) is not None:
            children.setdefault(stat[0], []).append((int(entry.name), stat[1]))
    found: list[tuple[int, int]] = []
    todo, seen = [root], {root}
    while todo:
        for pid, start in children.get(todo.pop(), []):
            if pid not in seen:
                seen.add(pid)
                found.append((pid, start))
                todo.append(pid)
    return found


def kill_left(processes: list[tuple[int, int]]) -> None:
    """SIGKILL each (pid, start time) still running as the same process (a reused pid is left)."""
    for pid, start in processes:
        stat = _stat(pid)
        if stat is not None and stat[1] == start:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _wait_group_gone(pgid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _group_alive(pgid) and time.monotonic() < deadline:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def stop_group(pgid: int, timeout: float = 15.0) -> None:
    """SIGTERM a process group we started (but do not hold a Popen for), wait up to ``timeout``,
    then SIGKILL what is left."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    _wait_group_gone(pgid, 5.0)


def spawn(argv: list[str], *, env: dict[str, str] | None = None, log_path: Path | None = None,
          netns: str | None = None) -> NodeProcess:
    """Start ``argv`` in a new session (its own process group), optionally inside a netns."""
    full_env = {**os.environ, **(env or {})}
    venv_bin = str(Path(sys.executable).parent)
    full_env["PATH"] = venv_bin + os.pathsep + full_env.get("PATH", "")
    full = ["ip", "netns", "exec", netns, *argv] if netns else argv
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - owned by child
    try:
        popen = subprocess.Popen(full, env=full_env, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        if log_path:
            out.close()
    return NodeProcess(popen, full, log_path)


@contextmanager
def start_lock(temp_dir: Path, timeout: float = 60.0) -> Iterator[bool]:
    """Serialize ``ray start`` of the nodes that share one Ray temp dir on this host.

    Ray names a node's raylet and plasma sockets by taking the first free name in the session's
    ``sockets`` folder (``raylet``, ``raylet.1``, …) without creating it: two nodes starting at
    the same instant pick the same name and one of them fails with "The current node timed out
    during startup" after 30 s. Nodes on other hosts have their own temp dir and never wait here.
    Yields whether the lock was taken (after ``timeout`` we go on without it).
    """
    temp_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(temp_dir / START_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout
    locked = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.1)
        yield locked
    finally:
        if locked:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def raylet_sockets(temp_dir: Path) -> set[Path]:
    """The raylet sockets of every session under a Ray temp dir."""
    return set(temp_dir.glob("session_*/sockets/raylet*"))


def wait_started(proc: NodeProcess, offset: int = 0, timeout: float = 45.0, *,
                 temp_dir: Path | None = None, sockets_before: set[Path] | None = None) -> bool:
    """Wait until the node's names are taken: a raylet socket not in ``sockets_before`` appeared
    under ``temp_dir`` (the race :func:`start_lock` guards is only about those names), or
    ``ray start`` reported "Ray runtime started" in its log after ``offset``. False at once if the
    child exits first, or after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if temp_dir is not None and sockets_before is not None and raylet_sockets(temp_dir) - sockets_before:
            return True
        if proc.log_path is not None:
            try:
                with open(proc.log_path, "rb") as fh:
                    fh.seek(offset)
                    if STARTED in fh.read():
                        return True
            except OSError:
                pass
        if not proc.alive():
            return False
        time.sleep(0.1)
    return False


def start_node(argv: list[str], *, env: dict[str, str], log_path: Path, temp_dir: Path,
               timeout: float = 45.0) -> tuple[NodeProcess, bool]:
    """``spawn`` a ``ray start`` under :func:`start_lock`, holding it until the node's socket
    names are taken. Returns the child and whether it got that far in ``timeout``."""
    with start_lock(temp_dir):
        offset, before = log_size(log_path), raylet_sockets(temp_dir)
        proc = spawn(argv, env=env, log_path=log_path)
        return proc, wait_started(proc, offset, timeout, temp_dir=temp_dir, sockets_before=before)


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
