"""Worker agents' records on the shared root: ``<root>/cluster/nodes/<name>.json``.

Each worker agent publishes what it is (address, GPUs, its Ray resource ``argus_node:<name>``,
metrics port), how it is (raylet running, quarantined and why) and a heartbeat. The server
reads them to keep quarantined nodes out of scheduling, to list nodes (``argus nodes``) and to
spot zombies. A release of a quarantine (``argus node release``) is a request file the agent
acts on: the quarantine flag itself stays the agent's own (``<state>/quarantine``).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from argus.errors import BadRequest
from argus.headrecord import cluster_dir

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
RESOURCE_PREFIX = "argus_node:"


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise BadRequest(f"node name {name!r}: use 1-63 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit")
    return name


def nodes_dir(root: Path) -> Path:
    return cluster_dir(root) / "nodes"


def node_resource(name: str) -> str:
    """The custom Ray resource a worker advertises so the server can map Ray nodes to agents."""
    return f"{RESOURCE_PREFIX}{name}"


def _write(path: Path, body: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(body, indent=1, sort_keys=True))
    os.replace(tmp, path)


def publish(root: Path, record: dict[str, Any]) -> None:
    _write(nodes_dir(root) / f"{check_name(record['name'])}.json", record)


def read_all(root: Path | None) -> list[dict[str, Any]]:
    """Every readable record, by name; garbage and half-written files are skipped."""
    if root is None or not nodes_dir(root).is_dir():
        return []
    records = []
    for path in sorted(nodes_dir(root).glob("*.json")):
        try:
            body = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(body, dict) and body.get("name") == path.stem:
            records.append(body)
    return records


def release_path(root: Path, name: str) -> Path:
    return nodes_dir(root) / f"{check_name(name)}.release"


def request_release(root: Path, name: str, by: str) -> dict[str, Any]:
    body = {"name": name, "by": by, "at": time.time()}
    _write(release_path(root, name), body)
    return body


def pending_release(root: Path, name: str) -> dict[str, Any] | None:
    try:
        return json.loads(release_path(root, name).read_text())
    except (OSError, ValueError):
        return None


def clear_release(root: Path, name: str) -> None:
    try:
        release_path(root, name).unlink()
    except FileNotFoundError:
        pass
