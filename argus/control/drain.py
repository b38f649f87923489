"""Quarantined nodes: keep new work off them and move their running tasks elsewhere.

A worker agent that saw a fatal Xid marks itself quarantined in its record on the shared root
(argus/noderegistry.py) and keeps its raylet for a drain period. Every tick the loop (1) leaves
the quarantined Ray nodes out of the planner's nodes, so nothing new is placed there, and (2)
moves every task that runs there — by Argus's placement or by where Ray put its driver — to
PREEMPTING with the reason. The reconciler then stops the Ray job with the task's grace and
requeues it; it resumes from its checkpoint elsewhere, and the stop counts as a preemption, not
against the task's retry budget.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from sqlalchemy import select

from argus.db.engine import Database
from argus.db.models import Attempt, Task
from argus.db.store import transition
from argus.errors import RayError
from argus.ray_adapter import JobState, NodeInfo, RayCluster
from argus.noderegistry import node_resource
from argus.services.nodes import agent_name, quarantined_ray_nodes
from argus.settings import Settings
from argus.states import TaskStatus
from taskspec import JobRequest

log = logging.getLogger(__name__)
PIN_AMOUNT = 0.001  # of the node's argus_node:<name> (1.0): any number of drivers fit
S = TaskStatus
DRAINED = (S.SUBMITTED, S.RUNNING)


def pin_driver(request: JobRequest, placement: list[str] | tuple[str, ...], names: dict[str, str]) -> JobRequest:
    """Ask Ray to start the driver on the first node of Argus's placement (its worker advertises
    ``argus_node:<name>``): without it Ray may start the driver on any node with room — a
    draining one included."""
    name = names.get(placement[0]) if placement else None
    if name is None:
        return request
    resources = {**request.entrypoint_resources, node_resource(name): PIN_AMOUNT}
    return dataclasses.replace(request, entrypoint_resources=resources)


class Quarantines:
    """Ray node id -> reason, from the agents' records (re-read at most every ``ttl`` seconds)."""

    def __init__(self, settings: Settings, ttl: float = 2.0, clock: Callable[[], float] = time.monotonic):
        self.settings, self.ttl, self.clock = settings, ttl, clock
        self._at = float("-inf")
        self._value: dict[str, str] = {}
        self._ids: frozenset[str] = frozenset()

    def of(self, infos: list[NodeInfo]) -> dict[str, str]:
        ids = frozenset(i.node_id for i in infos)
        if self.clock() - self._at >= self.ttl or ids != self._ids:
            self._value = quarantined_ray_nodes(self.settings, infos)
            self._at, self._ids = self.clock(), ids
        return self._value


def agent_names(infos: list[NodeInfo]) -> dict[str, str]:
    """Ray node id -> worker agent name, for the nodes that advertise one."""
    return {i.node_id: name for i in infos if (name := agent_name(i))}


def drain(db: Database, cluster: RayCluster, quarantined: dict[str, str],
          jobs: dict[str, JobState] | None = None) -> list[int]:
    """Move the tasks running on quarantined nodes to PREEMPTING; returns their ids.

    ``jobs``: Ray's jobs as listed this tick (their driver nodes); without it each is asked."""
    if not quarantined:
        return []
    with db.read() as session:
        rows = session.execute(
            select(Task.id, Task.status, Task.attempts, Attempt.placement, Attempt.submission_id)
            .join(Attempt, (Attempt.task_id == Task.id) & (Attempt.number == Task.attempts))
            .where(Task.status.in_([s.value for s in DRAINED]))).all()
    moved = []
    for task_id, status, number, placement, sid in rows:
        node = next((n for n in placement or () if n in quarantined), None) or _driver_node(cluster, sid, jobs)
        if node not in quarantined:
            continue
        reason = (f"{quarantined[node]}; stopping with its grace and requeueing it to resume from its "
                  "checkpoint on another node (a preemption, not a failure)")
        with db.write() as session:
            if transition(session, task_id, S(status), S.PREEMPTING, attempt=number, reason=reason,
                          actor="scheduler", audit_params={"drained_node": node}):
                moved.append(task_id)
                log.warning("task %s attempt %s: draining off node %s: %s", task_id, number, node, reason)
    return moved


def _driver_node(cluster: RayCluster, sid: str, jobs: dict[str, JobState] | None) -> str | None:
    if jobs is not None:
        return jobs[sid].driver_node_id if sid in jobs else None
    try:
        return cluster.status(sid).driver_node_id
    except RayError:
        return None
