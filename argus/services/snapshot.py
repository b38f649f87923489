"""The scheduling snapshot read from the database and Ray, and the ``--dry-run`` preview.

Read-only: the control loop plans on :func:`build_snapshot`; the API previews a spec with
:func:`preview_decision` without queueing it. Neither writes anything.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from argus.db.engine import Database
from argus.db.models import Attempt, FairShareUsage, Preemption, Task
from argus.db.store import now
from argus.errors import RayError
from argus.ray_adapter import NodeInfo
from argus.scheduling.fairshare import decay
from argus.scheduling.planner import Admit, Demand, Node, Pending, Preempt, Running, Snapshot, Wait, plan
from argus.scheduling.policy import Policy
from argus.services.prepare import Preparer
from argus.settings import Settings
from argus.states import ACTIVE, TaskStatus

S = TaskStatus


def node_from_ray(info: NodeInfo) -> Node:
    model = next((k.split(":", 1)[1] for k in info.resources if k.startswith("accelerator_type:")), None)
    model = model or info.labels.get("ray.io/accelerator-type") or None
    return Node(info.node_id, info.resources.get("CPU", 0.0), info.resources.get("GPU", 0.0),
                model.upper() if model else None, info.alive)


def worker_nodes(infos: Sequence[NodeInfo], worker_resource: str) -> list[Node]:
    return [node_from_ray(i) for i in infos if i.alive and i.resources.get(worker_resource, 0) > 0]


def _demand(row) -> Demand:  # noqa: ANN001 - a row with the task's demand columns
    return Demand(row.nodes, row.cpus_per_node, row.gpus_per_node, row.gpu_model)


# The columns the planner reads: never whole task rows (their spec JSON and text are most of the
# snapshot's cost with thousands queued).
DEMAND = (Task.id, Task.status, Task.priority, Task.team, Task.queued_at, Task.nodes, Task.cpus_per_node,
          Task.gpus_per_node, Task.gpu_model)


def build_snapshot(db: Database, settings: Settings, nodes: list[Node], reachable: bool,
                   policy: Policy, at: float | None = None) -> Snapshot:
    """Everything the planner needs, read in one short transaction."""
    ts = now() if at is None else at
    with db.read() as session:
        active = session.execute(
            select(*DEMAND, Attempt.placement, Attempt.started_at, Attempt.created_at)
            .join(Attempt, (Attempt.task_id == Task.id) & (Attempt.number == Task.attempts))
            .where(Task.status.in_([s.value for s in ACTIVE]))
        ).all()
        queued = session.execute(select(*DEMAND).where(Task.status == S.QUEUED.value)).all()
        last_preempted = dict(session.execute(
            select(Preemption.victim_task_id, func.max(Preemption.ts))
            .where(Preemption.victim_task_id.in_([t.id for t in active]))
            .group_by(Preemption.victim_task_id)).all())
        usage = {row.team: decay(row.usage, ts - row.updated_at, policy.half_life_seconds)
                 for row in session.scalars(select(FairShareUsage))}
    running = [Running(t.id, tuple(t.placement or ()), _demand(t), policy.rank_of(t.priority), t.team,
                       t.started_at or t.created_at,
                       preempting=t.status in (S.PREEMPTING.value, S.CANCELLING.value),
                       last_preempted_at=last_preempted.get(t.id))
               for t in active]
    pending = [Pending(t.id, policy.rank_of(t.priority), t.queued_at, _demand(t), t.team) for t in queued]
    return Snapshot(nodes=nodes, running=running, pending=pending, cluster_reachable=reachable,
                    now=ts, usage=usage)


def preview_decision(db: Database, settings: Settings, provider, spec, policy: Policy) -> dict:  # noqa: ANN001
    """What the planner would do with ``spec`` now, without queueing it (``--dry-run``)."""
    ref = provider.current()
    nodes: list[Node] = []
    reachable = ref.cluster is not None
    if ref.cluster is not None:
        try:
            nodes = worker_nodes(ref.cluster.nodes(), settings.worker_resource)
        except RayError:
            reachable = False
    snapshot = build_snapshot(db, settings, nodes, reachable, policy)
    gpus = spec.resources.gpus_per_node
    probe = Pending(0, policy.rank_of(spec.priority), snapshot.now,
                    Demand(spec.resources.nodes, Preparer(settings).cpus_per_node(spec),
                           0.0 if gpus.shared else gpus.count, gpus.model), spec.team)
    snapshot = Snapshot(snapshot.nodes, snapshot.running, [*snapshot.pending, probe],
                        snapshot.cluster_reachable, snapshot.now, snapshot.usage)
    decisions = plan(snapshot, policy)
    victims = [d.victim_task_id for d in decisions if isinstance(d, Preempt) and d.preemptor_task_id == 0]
    for decision in decisions:
        if isinstance(decision, (Admit, Wait)) and decision.task_id == 0:
            if isinstance(decision, Admit):
                return {"admit": True, "placement": list(decision.placement), "preempt": [],
                        "reason": f"would start now on {len(decision.placement)} node(s)"}
            return {"admit": False, "placement": [], "preempt": victims, "reason": decision.reason}
    return {"admit": False, "placement": [], "preempt": [], "reason": "unknown"}
