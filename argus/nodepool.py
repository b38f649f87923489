"""What the head agent, the worker agents and the control plane share about the node pool.

Ray token authentication: the head agent creates ``<shared root>/cluster/ray-token`` (mode
0600) once; every Ray process the agents start gets ``RAY_AUTH_MODE=token`` and
``RAY_AUTH_TOKEN_PATH`` pointing at it; HTTP clients send ``Authorization: Bearer <token>``.
Anyone who can read the shared root's ``cluster/`` folder can use the cluster, so keep that
folder readable only by the service account.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from argus.headrecord import HeadRecord, cluster_dir

log = logging.getLogger(__name__)

TOKEN_NAME = "ray-token"


def token_path(shared_root: Path) -> Path:
    return cluster_dir(shared_root) / TOKEN_NAME


def ensure_token(shared_root: Path) -> Path:
    """Create the cluster token once (O_EXCL, 0600); later heads reuse it."""
    path = token_path(shared_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    try:
        os.write(fd, secrets.token_hex(32).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def read_token(shared_root: Path | None) -> str | None:
    if shared_root is None:
        return None
    try:
        return token_path(shared_root).read_text().strip() or None
    except OSError:
        return None


def ray_env(shared_root: Path, auth: str) -> dict[str, str]:
    """Environment for a ``ray start`` child: token auth on unless the setting says disabled."""
    if auth == "token":
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_path(shared_root))}
    return {"RAY_AUTH_MODE": "disabled"}


def auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def detect_node_ip() -> str:
    """The address other hosts reach us on: the source address of the default route."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1; UDP connect sends nothing
            return sock.getsockname()[0]
    except OSError:
        return "127.0.0.1"


@dataclass(frozen=True)
class Probe:
    ok: bool
    session_name: str = ""
    error: str = ""


def probe_dashboard(url: str, token: str | None, timeout: float = 3.0) -> Probe:
    """GET /api/version: the head answers and tells its session name."""
    try:
        resp = httpx.get(f"{url.rstrip('/')}/api/version", headers=auth_headers(token), timeout=timeout)
        if resp.status_code != 200:
            return Probe(False, error=f"{url}/api/version answered HTTP {resp.status_code}")
        return Probe(True, session_name=str(resp.json().get("session_name", "")))
    except (httpx.HTTPError, ValueError) as exc:
        return Probe(False, error=f"{url} unreachable: {exc}")


def probe_record(record: HeadRecord, token: str | None) -> Probe:
    """The record's dashboard answers with the record's session (not a stale or foreign head)."""
    probe = probe_dashboard(record.dashboard_url, token)
    if probe.ok and probe.session_name != record.session_name:
        return Probe(False, probe.session_name,
                     f"{record.dashboard_url} runs session {probe.session_name}, record says "
                     f"{record.session_name}")
    return probe


def health_problem(path: Path, healthy: Callable[[dict], bool]) -> str | None:
    """Why the agent whose status file is ``path`` is not healthy, or None (container checks)."""
    try:
        status = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return f"no status in {path.parent}: {exc}"
    return None if healthy(status) else f"not healthy: {status}"


def stop_on_signals() -> threading.Event:
    """An event SIGTERM and SIGINT set: an agent's loop stops and stops its child group."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def write_status(path: Path, status: dict) -> None:
    """A small JSON status file, replaced atomically (no fsync: it is advisory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(status, indent=1, sort_keys=True))
    os.replace(tmp, path)
