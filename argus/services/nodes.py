"""The node list (``argus nodes``, ``GET /v1/nodes``), zombies, and releasing a quarantine.

Three sources joined by name: the agents' records on the shared root (argus/noderegistry.py),
Ray's node list (each worker advertises ``argus_node:<name>``), and the DB's active attempts
(GPUs in use per Ray node). A zombie is a half-dead node: a Ray worker without a live agent,
or a live agent whose raylet is not in Ray.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from sqlalchemy import select

from argus import noderegistry
from argus.authz import Principal, require_action
from argus.db.audit import RequestAudit
from argus.db.engine import Database
from argus.db.models import Attempt, Task
from argus.errors import Conflict, NotFound
from argus.ray_adapter import NodeInfo
from argus.settings import Settings
from argus.states import ACTIVE

NO_AGENT = "Ray node without a live agent"
NO_RAYLET = "agent's raylet is not in Ray"


def agent_name(info: NodeInfo) -> str | None:
    for key in info.resources:
        if key.startswith(noderegistry.RESOURCE_PREFIX):
            return key[len(noderegistry.RESOURCE_PREFIX):]
    return None


def gpus_in_use(db: Database) -> dict[str, float]:
    """GPUs Argus has admitted per Ray node id (its placement of every active attempt)."""
    used: dict[str, float] = defaultdict(float)
    with db.read() as session:
        for gpus, placement in session.execute(  # columns, not ORM objects: a scrape reads every row
                select(Task.gpus_per_node, Attempt.placement)
                .join(Attempt, (Attempt.task_id == Task.id) & (Attempt.number == Task.attempts))
                .where(Task.status.in_([s.value for s in ACTIVE]))):
            for node_id in placement or ():
                used[node_id] += gpus
    return used


def _state(record: dict, live: bool, in_ray: bool, now: float) -> str:
    if record.get("quarantined"):
        drain = record.get("drain_until") or 0
        return "draining" if record.get("raylet") and now < drain else "quarantined"
    if not live:
        return "down"
    return "ready" if in_ray else "joining"


def node_rows(db: Database, settings: Settings, ray_nodes: list[NodeInfo] | None,
              now: float | None = None) -> list[dict[str, Any]]:
    """One row per agent record and per Ray worker node no record names. ``ray_nodes`` None:
    Ray is unreachable (then nothing is called a zombie for not being in Ray)."""
    now = time.time() if now is None else now
    used = gpus_in_use(db)
    by_name = {agent_name(n): n for n in ray_nodes or () if n.alive and agent_name(n)}
    rows = []
    for record in noderegistry.read_all(settings.shared_root):
        age = now - float(record.get("heartbeat_at") or 0)
        live = age <= settings.node_stale_seconds and not record.get("stopped")
        ray = by_name.pop(record["name"], None)
        zombie = NO_RAYLET if (live and record.get("raylet") and ray_nodes is not None and ray is None) else ""
        if ray is not None and not live:
            zombie = NO_AGENT
        rows.append({
            "name": record["name"], "address": record.get("address", ""),
            "gpus": record.get("num_gpus", 0), "gpu_model": record.get("gpu_model", ""),
            "in_use": used.get(ray.node_id, 0.0) if ray else 0.0,
            "state": _state(record, live, ray is not None, now),
            "quarantine_reason": record.get("quarantine_reason", ""),
            "quarantined_at": record.get("quarantined_at"),
            "heartbeat_age": round(age, 1), "ray_node_id": ray.node_id if ray else None,
            "metrics_port": record.get("metrics_port"), "zombie": zombie,
        })
    for node in ray_nodes or ():
        if node.alive and not node.is_head and node.resources.get(settings.worker_resource, 0) > 0 \
                and (agent_name(node) is None or agent_name(node) in by_name):
            rows.append({
                "name": agent_name(node) or f"ray-{node.node_id[:12]}", "address": node.ip,
                "gpus": node.resources.get("GPU", 0.0), "gpu_model": "", "in_use": used.get(node.node_id, 0.0),
                "state": "ready", "quarantine_reason": "", "quarantined_at": None, "heartbeat_age": None,
                "ray_node_id": node.node_id, "metrics_port": None, "zombie": NO_AGENT,
            })
    return rows


def quarantined_ray_nodes(settings: Settings, ray_nodes: list[NodeInfo]) -> dict[str, str]:
    """Ray node id -> quarantine reason, for every alive Ray node whose agent is quarantined."""
    reasons = {r["name"]: r.get("quarantine_reason") or "quarantined"
               for r in noderegistry.read_all(settings.shared_root) if r.get("quarantined")}
    return {n.node_id: f"node {agent_name(n)} quarantined: {reasons[agent_name(n)]}"
            for n in ray_nodes if n.alive and agent_name(n) in reasons}


def release(settings: Settings, actor: Principal, name: str, *, db: Database,
            audit: RequestAudit | None = None) -> dict[str, Any]:
    """Ask node ``name``'s agent to lift its quarantine (it acts within a poll period)."""
    require_action(actor, "node.release")
    noderegistry.check_name(name)
    record = next((r for r in noderegistry.read_all(settings.shared_root) if r["name"] == name), None)
    if record is None:
        known = ", ".join(r["name"] for r in noderegistry.read_all(settings.shared_root)) or "none"
        raise NotFound(f"no node named '{name}' (known: {known}); see `argus nodes`")
    if not record.get("quarantined"):
        raise Conflict(f"node '{name}' is not quarantined")
    request = noderegistry.request_release(settings.shared_root, name, by=actor.name)
    if audit is not None:
        with db.write() as session:
            audit.record(session, target=f"node/{name}", reason=record.get("quarantine_reason", ""))
    return {"name": name, "released_by": request["by"], "requested_at": request["at"],
            "was": record.get("quarantine_reason", ""),
            "message": "release requested; the node's agent lifts the quarantine within a few seconds"}
