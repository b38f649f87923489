"""The queue as the planner sees it: pending tasks in its order with why each waits, and the
teams' quota use per GPU flavor. Read-only; the order is the planner's own ``order``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from argus.authz import Principal, allows, require_action
from argus.db.engine import Database
from argus.db.models import Task, Team
from argus.scheduling.planner import fair_share, order
from argus.scheduling.policy import Policy
from argus.services.quota import quota_view
from argus.services.snapshot import build_snapshot
from argus.settings import Settings


def _row(position: int, task: Task, now: float) -> dict[str, Any]:
    return {"position": position, "id": task.id, "name": task.name, "priority": task.priority,
            "team": task.team, "owner": task.owner, "reason": task.reason,
            "waited_s": max(0.0, now - task.queued_at), "nodes": task.nodes,
            "gpus_per_node": task.gpus_per_node, "gpu_model": task.gpu_model,
            "preemptions": task.preemptions}


def pending(db: Database, settings: Settings, policy: Policy, actor: Principal) -> dict[str, Any]:
    """Every QUEUED task the actor may see, numbered by its place among all pending tasks."""
    require_action(actor, "task.list")
    snapshot = build_snapshot(db, settings, [], True, policy)
    ranked = [p.task_id for p in order(snapshot.pending, policy, fair_share(snapshot, policy), snapshot.now)]
    with db.read() as session:
        tasks = {t.id: t for t in session.scalars(select(Task).where(Task.id.in_(ranked)))}
    items = [_row(n, tasks[tid], snapshot.now) for n, tid in enumerate(ranked, 1)
             if tid in tasks and allows(actor, "task.list", owner=tasks[tid].owner, team=tasks[tid].team)]
    return {"items": items, "total": len(ranked), "hidden": len(ranked) - len(items)}


def quotas(db: Database, policy: Policy, actor: Principal) -> list[dict[str, Any]]:
    """Per team the actor may see: nominal, lent, borrowed and in use per flavor."""
    configured = set(policy.teams)
    with db.read() as session:
        known = set(session.scalars(select(Team.name)))
    teams = sorted(t for t in configured | known if allows(actor, "team.read", team=t))
    return [{"team": team, "configured": team in configured, "flavors": quota_view(db, policy, team)}
            for team in teams]
