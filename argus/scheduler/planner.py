"""The pure planner: ``plan(snapshot) -> decisions``. No DB, no Ray, no clock.

Admission is gang-aware: a task needing ``nodes`` nodes is admitted only when that many
distinct worker nodes each have the per-node resources free; it is never started partly.
Free resources are Argus's own account (node totals minus what Argus admitted), because a
verl driver reserves no GPUs and verl places its GPU groups itself.

A ``Policy`` orders the queue; the default orders by priority class, then age. Later
policies (quotas, fair share, preemption) plug in by implementing ``Policy``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

EPS = 1e-9


@dataclass(frozen=True)
class Demand:
    """What a task needs on each of ``nodes`` distinct nodes."""

    nodes: int = 1
    cpus: float = 1.0
    gpus: float = 0.0
    gpu_model: str | None = None

    def describe(self) -> str:
        per_node = [f"{_num(self.cpus)} CPU"]
        if self.gpus:
            per_node.insert(0, f"{_num(self.gpus)} {self.gpu_model + ' ' if self.gpu_model else ''}GPU")
        noun = "node" if self.nodes == 1 else "nodes"
        return f"{self.nodes} {noun} with {' and '.join(per_node)} free each"


@dataclass(frozen=True)
class Node:
    node_id: str
    cpus: float
    gpus: float
    gpu_model: str | None = None
    alive: bool = True


@dataclass(frozen=True)
class Running:
    task_id: int
    placement: tuple[str, ...]
    demand: Demand


@dataclass(frozen=True)
class Pending:
    task_id: int
    priority_rank: int  # 0 is the highest class
    queued_at: float
    demand: Demand
    team: str | None = None


@dataclass(frozen=True)
class Snapshot:
    nodes: Sequence[Node]
    running: Sequence[Running]
    pending: Sequence[Pending]
    cluster_reachable: bool = True


@dataclass(frozen=True)
class Admit:
    task_id: int
    placement: tuple[str, ...]


@dataclass(frozen=True)
class Wait:
    task_id: int
    reason: str


Decision = Admit | Wait


class Policy(Protocol):
    def order(self, pending: Sequence[Pending]) -> list[Pending]: ...


class PriorityFifo:
    """Priority class first, then the time the task joined the queue, then its id."""

    def order(self, pending: Sequence[Pending]) -> list[Pending]:
        return sorted(pending, key=lambda p: (p.priority_rank, p.queued_at, p.task_id))


@dataclass
class FreeMap:
    """Free CPUs and GPUs per alive node, after what Argus has admitted."""

    cpus: dict[str, float] = field(default_factory=dict)
    gpus: dict[str, float] = field(default_factory=dict)
    model: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def build(cls, nodes: Iterable[Node], running: Iterable[Running]) -> FreeMap:
        free = cls()
        for node in nodes:
            if node.alive:
                free.cpus[node.node_id] = node.cpus
                free.gpus[node.node_id] = node.gpus
                free.model[node.node_id] = node.gpu_model
        for run in running:
            free.take(run.placement, run.demand)
        return free

    def take(self, placement: Iterable[str], demand: Demand) -> None:
        for node_id in placement:
            if node_id in self.cpus:
                self.cpus[node_id] -= demand.cpus
                self.gpus[node_id] -= demand.gpus

    def fits(self, node_id: str, demand: Demand) -> bool:
        if demand.gpu_model and demand.gpus and self.model.get(node_id) != demand.gpu_model:
            return False
        return (
            self.cpus[node_id] + EPS >= demand.cpus and self.gpus[node_id] + EPS >= demand.gpus
        )

    def place(self, demand: Demand) -> tuple[str, ...] | None:
        """Best fit: the fullest nodes that still fit, so large holes stay open for gangs."""
        fitting = [n for n in self.cpus if self.fits(n, demand)]
        if len(fitting) < demand.nodes:
            return None
        fitting.sort(key=lambda n: (self.gpus[n] - demand.gpus, self.cpus[n] - demand.cpus, n))
        return tuple(fitting[: demand.nodes])


def explain(free: FreeMap, nodes: Sequence[Node], demand: Demand) -> str:
    """Why ``demand`` does not fit now, in words a researcher understands."""
    alive = [n for n in nodes if n.alive]
    if not alive:
        return "waiting for worker nodes: none has joined the cluster"
    want = f"needs {demand.describe()}"
    capable = [n for n in alive if _could_ever_fit(n, demand)]
    if len(capable) < demand.nodes:
        kind = f"{demand.gpu_model} " if demand.gpu_model and demand.gpus else ""
        return (
            f"{want}; the cluster has {len(capable)} node(s) that big "
            f"(of {len(alive)} worker node(s)) — larger than the cluster, waiting for "
            f"{kind}capacity to join"
        )
    fitting = sum(1 for n in free.cpus if free.fits(n, demand))
    if demand.gpus:
        most = max((free.gpus[n.node_id] for n in capable), default=0.0)
        return f"{want}; {fitting} node(s) have that now (the most free GPUs on any node: {_num(most)})"
    most = max((free.cpus[n.node_id] for n in capable), default=0.0)
    return f"{want}; {fitting} node(s) have that now (the most free CPUs on any node: {_num(most)})"


def _could_ever_fit(node: Node, demand: Demand) -> bool:
    if demand.gpu_model and demand.gpus and node.gpu_model != demand.gpu_model:
        return False
    return node.cpus + EPS >= demand.cpus and node.gpus + EPS >= demand.gpus


def plan(snapshot: Snapshot, policy: Policy | None = None) -> list[Decision]:
    """Admit what fits, in policy order; every task left waiting gets a reason."""
    policy = policy or PriorityFifo()
    if not snapshot.cluster_reachable:
        return [Wait(p.task_id, "waiting for the Ray cluster: its head is unreachable") for p in snapshot.pending]
    free = FreeMap.build(snapshot.nodes, snapshot.running)
    decisions: list[Decision] = []
    for pending in policy.order(snapshot.pending):
        placement = free.place(pending.demand)
        if placement is None:
            decisions.append(Wait(pending.task_id, explain(free, snapshot.nodes, pending.demand)))
            continue
        free.take(placement, pending.demand)
        decisions.append(Admit(pending.task_id, placement))
    return decisions


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
