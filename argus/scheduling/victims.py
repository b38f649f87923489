"""The pass's preemptible running tasks, indexed for the victim search, and what searches failed.

Two shortcuts that leave every choice of :func:`choose` as it was:

* **Pools.** Which victims a preemptor may stop depends only on its class, its team, whether it
  reclaims its own nominal quota (and the class's urgency). Each such pool is filtered once, in
  preference order, so a search streams only the victims it may stop.
* **Hopeless searches.** A search that found too few nodes — ``C + H < nodes``, where ``H``
  counts nodes that fit already and ``C`` those that fit once every eligible victim on them stops
  — stays hopeless while no node gains room: victims only leave the pool during a pass and room
  is only taken, except on the nodes of chosen victims. So a failure is remembered with ``C + H``
  and re-checked only on the nodes that gained room since (each adds at most its own ``c + h``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence

from argus.scheduling.placement import Demand, FreeMap
from argus.scheduling.policy import Policy
from argus.scheduling.preempt import Victim, eligible, pierces_shield, preference, shielded

SLACK = 1e-6  # looser than the placement's EPS: the re-check must never undercount

PoolKey = tuple[int, str | None, bool, bool]  # (rank, team, urgent, reclaim)


class VictimIndex:
    """Preemptible candidates in preference order, per pool and per node; failed searches."""

    def __init__(self, candidates: Mapping[int, Victim], policy: Policy, now: float, borrowed: set[int]):
        self.candidates, self.borrowed = candidates, borrowed  # ``candidates`` shrinks as victims go
        preemptible = [r for r in candidates.values() if policy.klass(r.rank).preemptible]
        self.exposed = preference([r for r in preemptible if not shielded(r, policy, now)], borrowed)
        self.shielded = preference([r for r in preemptible if shielded(r, policy, now)], borrowed)
        self.shielded_ids = {r.task_id for r in self.shielded}
        self.largest = max((r.demand.gpus for r in preemptible), default=0.0)
        self.on_node: dict[str, list[Victim]] = defaultdict(list)
        for r in preemptible:
            for node_id in r.placement:
                self.on_node[node_id].append(r)
        self.pools: dict[PoolKey, list[Victim]] = {}
        self.taken = 0  # victims chosen this pass, still in the pool lists until compacted
        self.grown: list[str] = []  # nodes that gained room this pass, in order
        self.failed: dict[tuple, tuple[int, int]] = {}  # search key -> (len(grown) then, C + H)

    def allows(self, r: Victim, key: PoolKey) -> bool:
        """May a preemptor of ``key`` stop ``r`` (ignoring whether it is still a candidate)?"""
        rank, team, urgent, reclaim = key
        lent = r.task_id in self.borrowed
        if not ((r.rank > rank or (reclaim and r.rank == rank))
                and eligible(r, rank=rank, team=team, reclaim=reclaim, borrowed=lent, urgent=urgent)):
            return False
        if r.task_id in self.shielded_ids:
            return (urgent or reclaim) and pierces_shield(r, urgent=urgent, team=team, reclaim=reclaim,
                                                          borrowed=lent)
        return True

    def _listed(self, key: PoolKey) -> list[Victim]:
        victims = self.pools.get(key)
        if victims is None:
            victims = self.pools[key] = [r for r in (*self.exposed, *self.shielded) if self.allows(r, key)]
        return victims

    def none_for(self, key: PoolKey) -> bool:
        """``key`` may stop no task at all (e.g. the lowest class outside a reclaim)."""
        return not self._listed(key)

    def pool(self, key: PoolKey) -> Iterator[Victim]:
        """The victims ``key`` may stop, in preference order: the unshielded ones, then the
        shielded ones it may stop."""
        candidates = self.candidates
        return (r for r in self._listed(key) if r.task_id in candidates)

    def chosen(self, victims: Sequence[Victim]) -> None:
        """``victims`` were chosen (and left ``candidates``): their nodes gained room."""
        for v in victims:
            self.grown.extend(v.placement)
        self.taken += len(victims)
        if self.taken * 4 > len(self.exposed) + len(self.shielded):
            # drop chosen victims from the lists once they are a good part of them, so a pass
            # with many preemptions does not re-scan them from the head for every task
            keep = self.candidates
            self.exposed = [r for r in self.exposed if r.task_id in keep]
            self.shielded = [r for r in self.shielded if r.task_id in keep]
            self.pools = {k: [r for r in v if r.task_id in keep] for k, v in self.pools.items()}
            self.taken = 0

    def fail(self, key: PoolKey, demand: Demand, fitting: int) -> None:
        """A search for ``demand`` by ``key`` found ``fitting`` (= C + H) nodes, too few."""
        self.failed[(demand, key)] = (len(self.grown), fitting)

    def hopeless(self, key: PoolKey, demand: Demand, free: FreeMap) -> bool:
        """True only when a search would fail again (see the module's docstring)."""
        record = self.failed.get((demand, key))
        if record is None:
            return False
        seen, bound = record
        for node_id in set(self.grown[seen:]):
            bound += self._fitting(node_id, key, demand, free)
        if bound >= demand.nodes:
            del self.failed[(demand, key)]
            return False
        self.failed[(demand, key)] = (len(self.grown), bound)
        return True

    def _fitting(self, node_id: str, key: PoolKey, demand: Demand, free: FreeMap) -> int:
        """An upper bound on ``h + c`` of one node now (1 if it fits, 1 if it fits once its
        eligible victims stop)."""
        if node_id not in free.cpus or (demand.gpu_model and demand.gpus
                                         and free.model.get(node_id) != demand.gpu_model):
            return 0
        cpus, gpus = free.cpus[node_id], free.gpus[node_id]
        fits = int(cpus + SLACK >= demand.cpus and gpus + SLACK >= demand.gpus)
        mine = [r for r in self.on_node.get(node_id, ()) if r.task_id in self.candidates and self.allows(r, key)]
        cpus += sum(r.demand.cpus for r in mine)
        gpus += sum(r.demand.gpus for r in mine)
        return fits + int(bool(mine) and cpus + SLACK >= demand.cpus and gpus + SLACK >= demand.gpus)
