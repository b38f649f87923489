"""Free capacity per node, indexed by GPU model and free-GPU count, and gang placement.

Free resources are Argus's own account (node totals minus what Argus admitted), because a
verl driver reserves no GPUs and verl places its GPU groups itself.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

EPS = 1e-9


@dataclass(frozen=True)
class Demand:
    """What a task needs on each of ``nodes`` distinct nodes."""

    nodes: int = 1
    cpus: float = 1.0
    gpus: float = 0.0
    gpu_model: str | None = None

    def describe(self) -> str:
        per_node = [f"{num(self.cpus)} CPU"]
        if self.gpus:
            per_node.insert(0, f"{num(self.gpus)} {self.gpu_model + ' ' if self.gpu_model else ''}GPU")
        noun = "node" if self.nodes == 1 else "nodes"
        return f"{self.nodes} {noun} with {' and '.join(per_node)} free each"

    @property
    def total_gpus(self) -> float:
        return self.gpus * self.nodes


@dataclass(frozen=True)
class Node:
    node_id: str
    cpus: float
    gpus: float
    gpu_model: str | None = None
    alive: bool = True


class FreeMap:
    """Free CPUs and GPUs per alive node; buckets ``(model, floor(free GPUs)) -> nodes``.

    A placement looks only at buckets that can hold the demand, so a pass over 10,000
    pending tasks on 1,000 nodes does not scan every node for every task.
    """

    def __init__(self) -> None:
        self.cpus: dict[str, float] = {}
        self.gpus: dict[str, float] = {}
        self.model: dict[str, str | None] = {}
        # per model and bucket: (free GPUs, free CPUs, node) kept sorted, so best fit is the head
        self._buckets: dict[str | None, dict[int, list[tuple[float, float, str]]]] = \
            defaultdict(lambda: defaultdict(list))

    @classmethod
    def build(cls, nodes: Iterable[Node], used: Iterable[tuple[Sequence[str], Demand]] = ()) -> FreeMap:
        free = cls()
        cpus, gpus = free.cpus, free.gpus
        for node in nodes:
            if node.alive:
                cpus[node.node_id] = node.cpus
                gpus[node.node_id] = node.gpus
                free.model[node.node_id] = node.gpu_model
        for placement, demand in used:  # as take() would, then index every node once
            for node_id in placement:
                if node_id in cpus:
                    cpus[node_id] += -1.0 * demand.cpus
                    gpus[node_id] += -1.0 * demand.gpus
        for node_id in cpus:
            free._buckets[free.model[node_id]][free._key(node_id)].append(free._entry(node_id))
        for buckets in free._buckets.values():
            for bucket in buckets.values():
                bucket.sort()
        return free

    def copy(self) -> FreeMap:
        other = FreeMap()
        other.cpus, other.gpus, other.model = dict(self.cpus), dict(self.gpus), self.model
        for model, buckets in self._buckets.items():
            other._buckets[model] = defaultdict(list, {k: list(v) for k, v in buckets.items()})
        return other

    def _key(self, node_id: str) -> int:
        return max(-1, math.floor(self.gpus[node_id] + EPS))

    def _entry(self, node_id: str) -> tuple[float, float, str]:
        return self.gpus[node_id], self.cpus[node_id], node_id

    def _adjust(self, placement: Iterable[str], demand: Demand, sign: float) -> None:
        cpus, gpus = self.cpus, self.gpus
        for node_id in placement:
            if node_id in cpus:  # move the node's entry to the bucket of its new free GPUs
                buckets = self._buckets[self.model[node_id]]
                c, g = cpus[node_id], gpus[node_id]
                bucket = buckets[max(-1, math.floor(g + EPS))]
                del bucket[bisect.bisect_left(bucket, (g, c, node_id))]
                cpus[node_id] = c = c + sign * demand.cpus
                gpus[node_id] = g = g + sign * demand.gpus
                bisect.insort(buckets[max(-1, math.floor(g + EPS))], (g, c, node_id))

    def take(self, placement: Iterable[str], demand: Demand) -> None:
        self._adjust(placement, demand, -1.0)

    def give(self, placement: Iterable[str], demand: Demand) -> None:
        self._adjust(placement, demand, +1.0)

    def fits(self, node_id: str, demand: Demand) -> bool:
        if demand.gpu_model and demand.gpus and self.model.get(node_id) != demand.gpu_model:
            return False
        return self.cpus[node_id] + EPS >= demand.cpus and self.gpus[node_id] + EPS >= demand.gpus

    def _fitting_buckets(self, demand: Demand) -> list[Iterable[tuple[float, float, str]]]:
        """The entries ``(free GPUs, free CPUs, node)`` of each free-GPU bucket that can hold
        ``demand``, the least free first, each sorted (best fit first). Read them before the map
        changes. An entry fits when its CPUs and GPUs do (its bucket has the right model)."""
        if demand.gpu_model and demand.gpus:
            buckets = self._buckets.get(demand.gpu_model)
            if not buckets:
                return []
            low = math.floor(demand.gpus + EPS)
            return [buckets[k] for k in sorted(buckets) if k >= low and buckets[k]]
        models = list(self._buckets)
        low = math.floor(demand.gpus + EPS) if demand.gpus else -1
        out: list[Iterable[tuple[float, float, str]]] = []
        for key in sorted({k for m in models for k in self._buckets[m] if k >= low}):
            lists = [self._buckets[m][key] for m in models if self._buckets[m].get(key)]
            if lists:
                out.append(lists[0] if len(lists) == 1 else heapq.merge(*lists))
        return out

    def candidates(self, demand: Demand) -> Iterator[str]:
        """Nodes that fit, the least free first (best fit keeps whole nodes open for gangs)."""
        cpus, gpus = demand.cpus, demand.gpus
        for entries in self._fitting_buckets(demand):
            for g, c, node_id in entries:
                if c + EPS >= cpus and g + EPS >= gpus:
                    yield node_id

    def place(self, demand: Demand) -> tuple[str, ...] | None:
        """The first ``demand.nodes`` of :meth:`candidates`."""
        chosen: list[str] = []
        cpus, gpus, nodes = demand.cpus, demand.gpus, demand.nodes
        for entries in self._fitting_buckets(demand):
            for g, c, node_id in entries:
                if c + EPS >= cpus and g + EPS >= gpus:
                    chosen.append(node_id)
                    if len(chosen) == nodes:
                        return tuple(chosen)
        return None

    def count_fitting(self, demand: Demand, stop: int | None = None) -> int:
        """How many nodes fit ``demand`` (counting stops at ``stop``)."""
        count = 0
        cpus, gpus = demand.cpus, demand.gpus
        for entries in self._fitting_buckets(demand):
            for g, c, _ in entries:
                if c + EPS >= cpus and g + EPS >= gpus:
                    count += 1
                    if count == stop:
                        return count
        return count

    def most_free(self, demand: Demand) -> float:
        models = [demand.gpu_model] if demand.gpu_model and demand.gpus else list(self._buckets)
        best = -1
        for m in models:
            best = max([best, *(k for k, v in self._buckets.get(m, {}).items() if v)])
        if best < 0:
            return 0.0
        return max(v[-1][0] for m in models if (v := self._buckets[m].get(best)))


def could_ever_fit(node: Node, demand: Demand) -> bool:
    if demand.gpu_model and demand.gpus and node.gpu_model != demand.gpu_model:
        return False
    return node.cpus + EPS >= demand.cpus and node.gpus + EPS >= demand.gpus


class Capable:
    """The alive nodes and, per demand, how many could ever hold it (memoized for one pass)."""

    def __init__(self, nodes: Iterable[Node]):
        self.alive = [n for n in nodes if n.alive]
        self._counts: dict[Demand, int] = {}

    def count(self, demand: Demand) -> int:
        if demand not in self._counts:
            self._counts[demand] = sum(1 for n in self.alive if could_ever_fit(n, demand))
        return self._counts[demand]


def explain(free: FreeMap, nodes: Sequence[Node] | Capable, demand: Demand) -> str:
    """Why ``demand`` does not fit now, in words a researcher understands."""
    capable_nodes = nodes if isinstance(nodes, Capable) else Capable(nodes)
    alive = capable_nodes.alive
    if not alive:
        return "waiting for worker nodes: none has joined the cluster"
    kind = f"{demand.gpu_model} " if demand.gpu_model and demand.gpus else ""
    gpu_words = f"{num(demand.gpus)} free {kind or 'GPU'}".rstrip() if demand.gpus else f"{num(demand.cpus)} free CPU"
    noun = "node" if demand.nodes == 1 else "nodes"
    want = f"needs {demand.nodes} {noun} with {gpu_words} each"
    capable = capable_nodes.count(demand)
    if capable < demand.nodes:
        return (f"{want}; the cluster has {capable} node(s) that big (of {len(alive)} worker "
                f"node(s)) — larger than the cluster, waiting for {kind}capacity to join")
    fitting = free.count_fitting(demand)
    if demand.gpus:
        return (f"{want}; {fitting} node(s) have that now; the most free on any node is "
                f"{num(free.most_free(demand))}")
    most = max((free.cpus[n] for n in free.cpus), default=0.0)
    return f"{want}; {fitting} node(s) have that now; the most free CPUs on any node is {num(most)}"


def num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
