"""The pass's preemptible running tasks, indexed for the victim search, and what searches failed.

Three shortcuts that leave every choice of :func:`search` as it was:

* **Pools.** Which victims a preemptor may stop depends only on its class, its team, whether it
  reclaims its own nominal quota (and the class's urgency). Each such pool is filtered once, in
  preference order, so a search streams only the victims it may stop.
* **Hopeless searches.** A search that found too few nodes — ``C + H < nodes``, where ``H``
  counts nodes that fit already and ``C`` those that fit once every eligible victim on them stops
  — stays hopeless while no node gains room: victims only leave the pool during a pass and room
  is only taken, except on the nodes of chosen victims. So a failure is remembered with ``C + H``
  and re-checked only on the nodes that gained room since (each adds at most its own ``c + h``).
* **Deep searches by node.** When no node can fit with fewer than ``L >= 2`` victims (a
  whole-node shape on a full cluster), the stream reads hundreds of victims before ``L`` of one
  node have passed. The stream's choice is the ``nodes`` nodes that fit with exactly ``L``
  victims whose ``L``-th victim comes first in preference order; so each pool keeps its nodes
  sorted by the place of their ``L``-th victim (kept up to date on the nodes whose victims left),
  and the search reads them in that order, stopping once enough qualify. Reading a node
  repeats the stream's steps on it, so when too few qualify the nodes read give the stream's
  answer too.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from itertools import compress
from collections.abc import Iterator, Mapping, Sequence

from argus.scheduling.placement import EPS, Demand, FreeMap
from argus.scheduling.policy import Policy
from argus.scheduling.preempt import (Victim, eligible, fewest_victims, pierces_shield, preference, search,
                                      settle, shielded)

SLACK = 1e-6  # looser than the placement's EPS: the re-check must never undercount

PoolKey = tuple[int, str | None, bool, bool]  # (rank, team, urgent, reclaim)


class VictimIndex:
    """Preemptible candidates in preference order, per pool and per node; failed searches."""

    def __init__(self, candidates: Mapping[int, Victim], policy: Policy, now: float, borrowed: set[int]):
        self.candidates, self.borrowed = candidates, borrowed  # ``candidates`` shrinks as victims go
        preemptible = [r for r in candidates.values() if policy.klass(r.rank).preemptible]
        guarded = [shielded(r, policy, now) for r in preemptible]
        self.exposed = preference([r for r, g in zip(preemptible, guarded) if not g], borrowed)
        self.shielded = preference([r for r, g in zip(preemptible, guarded) if g], borrowed)
        self.shielded_ids = {r.task_id for r in self.shielded}
        self.largest = max((r.demand.gpus for r in preemptible), default=0.0)
        self.on_node: dict[str, list[Victim]] = defaultdict(list)
        for r in preemptible:
            for node_id in r.placement:
                self.on_node[node_id].append(r)
        self.position = {r.task_id: i for i, r in enumerate((*self.exposed, *self.shielded))}
        # whether a key allows a victim depends only on the victim's kind: one check per kind
        self.kind = {r.task_id: (r.rank, r.team or "", r.task_id in borrowed, r.task_id in self.shielded_ids)
                     for r in preemptible}
        self.of_kind: dict[tuple, Victim] = {}
        for r in preemptible:
            self.of_kind.setdefault(self.kind[r.task_id], r)
        self.listed = [*self.exposed, *self.shielded]  # what pools are filtered from, with kinds
        self.kinds = [self.kind[r.task_id] for r in self.listed]
        self.pools: dict[PoolKey, list[Victim]] = {}  # keys whose pools are equal share one list
        self.pool_id: dict[PoolKey, int] = {}
        self.distinct: dict[int, list[Victim]] = {}  # pool id -> its list
        self.deep: dict[tuple[int, int], _ByNode] = {}  # (pool id, L) -> nodes by their L-th victim
        self.taken = 0  # victims chosen this pass, still in the pool lists until compacted
        self.left: dict[str, int] = {}  # node -> victims chosen on it this pass
        self.sums: dict[tuple[int, str], tuple[int, tuple[float, float] | None]] = {}  # see _mine
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
            ok = {k: self.allows(r, key) for k, r in self.of_kind.items()}
            victims = list(compress(self.listed, map(ok.__getitem__, self.kinds)))
            # urgent classes of every team may stop the same victims: share their pool
            pid = next((i for i, other in self.distinct.items() if other == victims), len(self.distinct))
            victims = self.distinct.setdefault(pid, victims)
            self.pools[key], self.pool_id[key] = victims, pid
        return victims

    def _pid(self, key: PoolKey) -> int:
        self._listed(key)
        return self.pool_id[key]

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
            for node_id in v.placement:
                self.left[node_id] = self.left.get(node_id, 0) + 1
        self.taken += len(victims)
        if self.taken * 4 > len(self.exposed) + len(self.shielded):
            # drop chosen victims from the lists once they are a good part of them, so a pass
            # with many preemptions does not re-scan them from the head for every task
            keep = self.candidates
            self.exposed = [r for r in self.exposed if r.task_id in keep]
            self.shielded = [r for r in self.shielded if r.task_id in keep]
            self.listed = [*self.exposed, *self.shielded]
            self.kinds = [self.kind[r.task_id] for r in self.listed]
            self.distinct = {i: [r for r in v if r.task_id in keep] for i, v in self.distinct.items()}
            self.pools = {k: self.distinct[self.pool_id[k]] for k in self.pools}
            self.taken = 0

    def search(self, key: PoolKey, demand: Demand, free: FreeMap) -> tuple[list[Victim], int | None]:
        """:func:`search` over ``key``'s pool; a deep search reads nodes (see the module's docstring)."""
        least = fewest_victims(demand, free, self.largest)
        if least >= 2:
            have = free.count_fitting(demand, stop=demand.nodes)
            if have < demand.nodes and (found := self._by_node(key, demand, free, least, demand.nodes - have)):
                needs, fitting = found
                return (settle(demand, free, needs, self.position), None) if needs else ([], have + fitting)
        return search(demand, free, self.pool(key), self.largest, least)

    def _by_node(self, key: PoolKey, demand: Demand, free: FreeMap, least: int,
                 wanted: int) -> tuple[list[list[Victim]], int] | None:
        """What the stream would find, read node by node: the victims of the ``wanted`` cheapest
        nodes — those that fit with exactly ``least`` victims, the earliest ``least``-th victim
        first, then (when too few) those that need more, as the stream sorts them — or, when
        fewer nodes can fit at all, none and how many can. None: a node fits with fewer than
        ``least`` victims, which ``least`` rules out; the stream decides."""
        pid = self._pid(key)
        nodes = self.deep.get((pid, least))
        if nodes is None:
            nodes = self.deep[(pid, least)] = _ByNode(self.distinct[pid], least, self.candidates, self.position)
        nodes.update(set(self.grown[nodes.seen:]), len(self.grown))
        model = demand.gpu_model if demand.gpus else None
        needs: list[list[Victim]] = []
        more: list[tuple[int, int, str, list[Victim]]] = []  # nodes that need more than ``least``
        for _, node_id in nodes.order:
            if node_id not in free.cpus or (model and free.model.get(node_id) != model):
                continue
            cpus, gpus, need = free.cpus[node_id], free.gpus[node_id], []
            for r in nodes.victims[node_id]:  # the stream's steps on this node, in its order
                if r.task_id not in self.candidates:
                    continue
                cpus += r.demand.cpus
                gpus += r.demand.gpus
                need.append(r)
                if cpus + EPS >= demand.cpus and gpus + EPS >= demand.gpus:
                    break
            else:
                continue  # never fits
            if len(need) < least:
                return None
            if len(need) > least:
                more.append((len(need), self.position[need[-1].task_id], node_id, need))
                continue
            needs.append(need)
            if len(needs) == wanted:  # nothing later can sort before these
                return needs, wanted
        if len(needs) + len(more) < wanted:
            return [], len(needs) + len(more)
        more.sort(key=lambda c: c[:3])
        return needs + [need for *_, need in more[:wanted - len(needs)]], wanted

    def fail(self, key: PoolKey, demand: Demand, fitting: int) -> None:
        """A search for ``demand`` by ``key`` found ``fitting`` (= C + H) nodes, too few."""
        self.failed[(demand, key)] = (len(self.grown), fitting)

    def hopeless(self, key: PoolKey, demand: Demand, free: FreeMap) -> bool:
        """True only when a search would fail again (see the module's docstring)."""
        record = self.failed.get((demand, key))
        if record is None:
            return False
        seen, bound = record
        if seen == len(self.grown):
            return True  # no node gained room since: ``bound`` is still below ``demand.nodes``
        # each node that gained room adds at most its ``h + c``: 1 if it fits now, 1 if it fits
        # once its eligible victims stop
        model = demand.gpu_model if demand.gpus else None
        for node_id in set(self.grown[seen:]):
            if node_id not in free.cpus or (model and free.model.get(node_id) != model):
                continue
            cpus, gpus = free.cpus[node_id], free.gpus[node_id]
            bound += cpus + SLACK >= demand.cpus and gpus + SLACK >= demand.gpus
            mine = self._mine(node_id, key)
            bound += (mine is not None and cpus + mine[0] + SLACK >= demand.cpus
                      and gpus + mine[1] + SLACK >= demand.gpus)
        if bound >= demand.nodes:
            del self.failed[(demand, key)]
            return False
        self.failed[(demand, key)] = (len(self.grown), bound)
        return True

    def _mine(self, node_id: str, key: PoolKey) -> tuple[float, float] | None:
        """CPUs and GPUs of the victims on ``node_id`` that ``key`` may stop (None: there are none);
        kept per pool until a victim leaves the node."""
        pid = self._pid(key)
        left = self.left.get(node_id, 0)
        cached = self.sums.get((pid, node_id))
        if cached is None or cached[0] != left:
            mine = [r for r in self.on_node.get(node_id, ()) if r.task_id in self.candidates and self.allows(r, key)]
            cached = self.sums[(pid, node_id)] = (left, (sum(r.demand.cpus for r in mine),
                                                         sum(r.demand.gpus for r in mine)) if mine else None)
        return cached[1]


class _ByNode:
    """One pool's nodes sorted by the preference place of their ``least``-th victim still running."""

    def __init__(self, pool: Sequence[Victim], least: int, candidates: Mapping[int, Victim],
                 position: Mapping[int, int]):
        self.least, self.candidates, self.position = least, candidates, position
        self.victims: dict[str, list[Victim]] = defaultdict(list)  # node -> its pool victims, in order
        for r in pool:
            for node_id in r.placement:
                self.victims[node_id].append(r)
        self.at: dict[str, int] = {}
        for node_id in self.victims:
            if (at := self._at(node_id)) is not None:
                self.at[node_id] = at
        self.order = sorted((at, node_id) for node_id, at in self.at.items())
        self.seen = 0  # how much of the pass's ``grown`` the order has taken in

    def _at(self, node_id: str) -> int | None:
        count = 0
        for r in self.victims[node_id]:
            if r.task_id in self.candidates:
                count += 1
                if count == self.least:
                    return self.position[r.task_id]
        return None

    def update(self, changed: set[str], seen: int) -> None:
        """Victims left the nodes ``changed``: move them to their new place."""
        for node_id in changed:
            old = self.at.pop(node_id, None)
            if old is not None:
                del self.order[bisect.bisect_left(self.order, (old, node_id))]
            if node_id in self.victims and (at := self._at(node_id)) is not None:
                self.at[node_id] = at
                bisect.insort(self.order, (at, node_id))
        self.seen = seen
