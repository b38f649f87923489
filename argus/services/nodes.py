"""The cluster as the server knows it: the head record, Ray's nodes, GPUs in use per node, and
the worker agents' published statuses (``<shared root>/nodes/workers/``). Read-only."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import select

from argus.cluster import ClusterProvider
from argus.db.engine import Database
from argus.db.models import Attempt, Task
from argus.errors import RayError
from argus.headrecord import EPOCHS_DIR, BadRecord, RecordMissing, cluster_dir, read_record
from argus.nodepool import STALE_AFTER_S, read_worker_statuses
from argus.services.snapshot import node_from_ray
from argus.settings import Settings
from argus.states import ACTIVE


def head_view(shared_root: Path | None, now: float) -> dict[str, Any]:
    """The published head: epoch, addresses, since when (its epoch claim), lease state."""
    if shared_root is None:
        return {"state": "no shared root", "detail": "ARGUS_SHARED_ROOT is not set; Ray at ARGUS_RAY_ADDRESS"}
    try:
        record = read_record(shared_root)
    except RecordMissing:
        return {"state": "none", "detail": "no head has published itself yet"}
    except (BadRecord, OSError) as exc:
        return {"state": "unreadable", "detail": str(exc)[:300]}
    try:
        since = (cluster_dir(shared_root) / EPOCHS_DIR / str(record.epoch)).stat().st_mtime
    except OSError:
        since = None
    state = "withdrawn" if record.withdrawn else ("live" if record.live(now) else "lease expired")
    return {"state": state, "detail": "", "epoch": record.epoch, "dashboard_url": record.dashboard_url,
            "gcs_address": record.gcs_address, "host": record.host, "pid": record.pid,
            "session_name": record.session_name, "since": since, "written_at": record.written_at,
            "lease_expires_at": record.lease_expires_at}


def _gpus_in_use(db: Database) -> dict[str, float]:
    """GPUs held per Ray node id by live attempts (each placed node holds gpus_per_node)."""
    used: dict[str, float] = defaultdict(float)
    with db.read() as session:
        rows = session.execute(
            select(Task.gpus_per_node, Attempt.placement)
            .join(Attempt, (Attempt.task_id == Task.id) & (Attempt.number == Task.attempts))
            .where(Task.status.in_([s.value for s in ACTIVE])))
        for gpus, placement in rows:
            for node_id in placement or []:
                used[node_id] += float(gpus or 0.0)
    return used


def _agent_view(status: dict[str, Any], now: float) -> dict[str, Any]:
    updated = status.get("updated_at") or 0.0
    stale = now - updated > STALE_AFTER_S
    state = "not reporting" if stale else ("raylet up" if status.get("child_pid") else "no raylet")
    res = status.get("resources") or {}
    return {"file": status.get("file"), "host": status.get("host"), "node_ip": status.get("node_ip"),
            "state": state, "joined_epoch": status.get("joined_epoch"),
            "last_action": status.get("last_action"), "last_reason": status.get("last_reason"),
            "last_error": status.get("last_error"), "quarantined": bool(status.get("quarantined")),
            "quarantine_reason": status.get("quarantine_reason") or "", "updated_at": updated,
            "gpus": res.get("num_gpus"), "gpu_model": res.get("gpu_model")}


def nodes_view(db: Database, settings: Settings, provider: ClusterProvider) -> dict[str, Any]:
    now = time.time()
    agents = [_agent_view(s, now) for s in read_worker_statuses(settings.shared_root)] \
        if settings.shared_root else []
    ref = provider.current()
    infos, ray_error = [], ref.why_not
    if ref.cluster is not None:
        try:
            infos = ref.cluster.nodes()
        except RayError as exc:
            ray_error = exc.message
    used = _gpus_in_use(db)
    nodes = []
    for info in sorted(infos, key=lambda i: (not i.is_head, i.ip, i.node_id)):
        node = node_from_ray(info)
        mine = [a for a in agents if a["node_ip"] and a["node_ip"] == info.ip]
        nodes.append({"node_id": info.node_id, "ip": info.ip, "alive": info.alive, "is_head": info.is_head,
                      "worker": info.resources.get(settings.worker_resource, 0) > 0,
                      "cpus": node.cpus, "gpus": node.gpus, "gpu_model": node.gpu_model,
                      "gpus_in_use": used.get(info.node_id, 0.0),
                      "agents": [a["file"] for a in mine],
                      "quarantined": any(a["quarantined"] for a in mine)})
    return {"head": head_view(settings.shared_root, now), "epoch": ref.epoch, "ray_error": ray_error,
            "nodes": nodes, "agents": agents}
