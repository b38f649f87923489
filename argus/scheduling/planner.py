"""The pure planner: ``plan(snapshot, policy) -> decisions``. No DB, no Ray, no clock.

One pass, in order: tasks past the maximum wait go right after the top class; otherwise by
priority class, and within a class by fair share (decayed team usage / weight, charged at
admission) plus an age factor, then age. For each task: team quota (borrowing idle quota of
other teams within limits), then a gang placement on ``nodes`` distinct nodes of the right
flavor; if none is free and the class may preempt, the smallest set of eligible lower-class
(or borrowed) tasks is preempted and the room they free is held for the preemptor. Every
task left waiting gets a reason a researcher understands. See docs/scheduling.md.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter

from argus.scheduling.fairshare import FairShare
from argus.scheduling.placement import Capable, Demand, FreeMap, Node, explain, num
from argus.scheduling.policy import Policy
from argus.scheduling.quota import QuotaBook
from argus.scheduling.victims import VictimIndex

__all__ = ["Admit", "Demand", "Node", "Pending", "Policy", "Preempt", "Running", "Snapshot",
           "Wait", "plan"]


@dataclass(frozen=True)
class Running:
    task_id: int
    placement: tuple[str, ...]
    demand: Demand
    rank: int = 0
    team: str | None = None
    started_at: float = 0.0  # when the attempt was admitted
    preempting: bool = False  # already told to stop: its room frees soon
    last_preempted_at: float | None = None


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
    now: float = 0.0
    usage: Mapping[str, float] = field(default_factory=dict)  # team -> decayed usage at ``now``


@dataclass(frozen=True)
class Admit:
    task_id: int
    placement: tuple[str, ...]
    borrowed: bool = False


@dataclass(frozen=True)
class Wait:
    task_id: int
    reason: str


@dataclass(frozen=True)
class Preempt:
    victim_task_id: int
    preemptor_task_id: int
    reason: str


Decision = Admit | Wait | Preempt
ARRIVAL = attrgetter("queued_at", "task_id")


def fair_share(snapshot: Snapshot, policy: Policy) -> FairShare:
    """The pass's fair-share scorer: decayed usage per team, weighed by the policy."""
    weights = {name: policy.weight(name) for name in policy.teams}
    return FairShare(snapshot.usage, weights, policy.fair_share_weight, policy.age_weight,
                     policy.age_cap_seconds)


def order(pending: Sequence[Pending], policy: Policy, fs: FairShare, now: float) -> Iterator[Pending]:
    """Yield pending tasks best first; reads ``fs`` live, so an admission's charge counts at once."""
    starved = sorted((p for p in pending if now - p.queued_at >= policy.max_wait_seconds > 0),
                     key=ARRIVAL)
    starved_ids = {p.task_id for p in starved}
    classes: dict[int, dict[str, list[Pending]]] = defaultdict(lambda: defaultdict(list))
    for p in pending:
        if p.task_id not in starved_ids:
            classes[p.priority_rank][p.team or ""].append(p)
    ranks = sorted(classes)
    if ranks and ranks[0] == 0:
        yield from _by_share(classes.pop(0), fs, now)
    yield from starved
    for rank in sorted(classes):
        yield from _by_share(classes[rank], fs, now)


def _by_share(teams: dict[str, list[Pending]], fs: FairShare, now: float) -> Iterator[Pending]:
    queues = {team: sorted(tasks, key=ARRIVAL, reverse=True)
              for team, tasks in teams.items()}
    priority = fs.priority

    def entry(t: str, head: Pending) -> tuple[float, float, int, str]:
        # the best head is the one with the highest fair-share + age priority, then the oldest:
        # the heap's smallest entry
        return -priority(t or None, now - head.queued_at), head.queued_at, head.task_id, t

    # a team's entry changes when its head is taken or when an admission charges fair share
    charges = -1
    while queues:
        # within a team the oldest is best; across teams the fair-share + age priority decides
        if fs.charges != charges:
            heads, charges = [entry(t, q[-1]) for t, q in queues.items()], fs.charges
            heapq.heapify(heads)
        team = heads[0][3]
        queue = queues[team]
        yield queue.pop()
        if queue:
            heapq.heapreplace(heads, entry(team, queue[-1]))
        else:
            heapq.heappop(heads)
            del queues[team]


class _Pass:
    """The state of one planning pass: free room now and soon, quota use, fair-share use."""

    def __init__(self, snapshot: Snapshot, policy: Policy):
        self.snapshot, self.policy, self.now = snapshot, policy, snapshot.now
        self.max_wait = policy.max_wait_seconds  # past it a task is starved
        running = snapshot.running
        self.free = FreeMap.build(snapshot.nodes, [(r.placement, r.demand) for r in running])
        self.alive = Capable(snapshot.nodes)
        self.soon = self.free.copy()  # after the tasks already told to stop have stopped
        self.stopping = 0
        for r in running:
            if r.preempting:
                self.soon.give(r.placement, r.demand)
                self.stopping += 1
        self.quota = QuotaBook(policy, running)
        self.candidates = {r.task_id: r for r in running if not r.preempting}
        self.victims = VictimIndex(self.candidates, policy, self.now, self.quota.borrowed)
        self.fs = fair_share(snapshot, policy)
        self.version = 0  # bumps whenever room is given back; keys the failure cache
        self.failed: dict[Demand, tuple[int, str]] = {}
        self.waiting_by_rank: dict[int, int] = defaultdict(int)
        self.rank_then: int | None = None  # the class of the last task left waiting
        self.higher = 0  # how many of a higher class than ``rank_then`` wait
        self.said: dict[tuple[str, int], str] = {}  # (reason, higher) -> the reason with the count
        self.full_now: set[Demand] = set()  # shapes that no longer fit in ``free``
        self.full_soon: dict[Demand, tuple[int, int]] = {}  # shape -> (len(grown) then, nodes fitting)
        self.changes = 0  # bumps whenever room is taken or a search touched the free map
        self.waits: dict[tuple, tuple[int, str]] = {}  # (team, rank, shape) -> (changes, reason)

    def hold(self, placement: tuple[str, ...], demand: Demand) -> None:
        self.free.take(placement, demand)
        self.soon.take(placement, demand)
        self.changes += 1

    def decide(self, p: Pending) -> list[Decision]:
        """What to do with ``p``; a task left waiting also learns how many of a higher class wait."""
        d = p.demand  # the key spells out the shape: a tuple of plain values hashes faster
        memo = (p.team, p.priority_rank, d.nodes, d.cpus, d.gpus, d.gpu_model)
        starved = self.now - p.queued_at >= self.max_wait > 0
        if not starved and (reason := self.repeat(memo)) is not None:
            return [self.waiting(p, reason)]
        before = self.changes
        out = self.decide_afresh(p)
        wait = out[-1]
        if isinstance(wait, Wait):
            if not starved and self.changes == before and len(out) == 1:
                self.waits[memo] = (before, wait.reason)
            out[-1] = self.waiting(p, wait.reason)
        return out

    def repeat(self, memo: tuple) -> str | None:
        """Between two changes of the pass's state (room held, a search that touched the free
        map) a task of the same team, shape and class that is not past the maximum wait gets
        the wait the last one got."""
        hit = self.waits.get(memo)
        return hit[1] if hit is not None and hit[0] == self.changes else None

    def waiting(self, p: Pending, reason: str) -> Wait:
        """``p`` waits for ``reason``, behind the tasks of a higher class left waiting so far."""
        rank = p.priority_rank
        if rank != self.rank_then:  # the count changes only when a task of a higher class waits
            self.rank_then, self.higher = rank, sum(n for r, n in self.waiting_by_rank.items() if r < rank)
        self.waiting_by_rank[rank] += 1
        said = self.said.get((reason, self.higher))
        if said is None:
            said = self.said[(reason, self.higher)] = reason if not self.higher or "preempting" in reason \
                else f"{reason}; behind {self.higher} task(s) of higher priority"
        return Wait(p.task_id, said)

    def decide_afresh(self, p: Pending) -> list[Decision]:
        d = p.demand
        ok, borrows, why = self.quota.check(p.team, d)
        if not ok:
            return [Wait(p.task_id, why)]
        cached = self.failed.get(d)
        if cached is None or cached[0] != self.version:
            placement = self.place_now(d)
            if placement is not None:
                self.hold(placement, d)
                self.quota.add(p.team, d)
                self.fs.charge(p.team, d)
                return [Admit(p.task_id, placement, borrows)]
            placement = self.place_soon(d)
            if placement is not None:
                self.hold(placement, d)
                return [Wait(p.task_id, f"waiting for {self.stopping} preempted task(s) to stop "
                                        "and free its nodes")]
        decisions = self.preempt(p)
        if decisions:
            return decisions
        reason = cached[1] if cached and cached[0] == self.version else explain(self.free, self.alive, d)
        self.failed[d] = (self.version, reason)
        if self.now - p.queued_at >= self.policy.max_wait_seconds > 0:
            self.reserve(d)
            hours = num(round(self.policy.max_wait_seconds / 3600, 2))
            reason += f"; waited past the maximum of {hours} h, so nodes are held for it"
        return [Wait(p.task_id, reason)]

    def place_now(self, d: Demand) -> tuple[str, ...] | None:
        """``free.place(d)``; free room only shrinks during a pass, so a failure is final."""
        if d in self.full_now:
            return None
        placement = self.free.place(d)
        if placement is None:
            self.full_now.add(d)
        return placement

    def place_soon(self, d: Demand) -> tuple[str, ...] | None:
        """``soon.place(d)``; after a failure only nodes that gained room since (chosen victims')
        can add to the count of nodes that fit, so the placement is retried only when they could."""
        grown = self.victims.grown
        if (record := self.full_soon.get(d)) is not None:
            seen, count = record
            if seen == len(grown):
                return None  # no node gained room since: ``count`` is still below ``d.nodes``
            count += sum(1 for n in set(grown[seen:]) if n in self.soon.cpus and self.soon.fits(n, d))
            if count < d.nodes:
                self.full_soon[d] = (len(grown), count)
                return None
        placement = self.soon.place(d)
        if placement is None:
            self.full_soon[d] = (len(grown), self.soon.count_fitting(d))
        return placement

    def preempt(self, p: Pending) -> list[Decision]:
        cls = self.policy.klass(p.priority_rank)
        if not (self.policy.preemption and cls.may_preempt):
            return []
        reclaim = self.quota.within_nominal(p.team, p.demand)
        key = (p.priority_rank, p.team, cls.urgent, reclaim)
        index = self.victims
        if index.none_for(key) or index.hopeless(key, p.demand, self.soon):
            return []
        victims, fitting = index.search(key, p.demand, self.soon)
        if not victims:
            if fitting is not None:
                index.fail(key, p.demand, fitting)
            else:  # it may have given room back and taken it again: forget what failed
                self.changes += 1
                index.failed.clear()
                self.full_soon.clear()
            return []
        placement = self.soon.place(p.demand)
        assert placement is not None
        self.hold(placement, p.demand)
        self.version += 1
        out: list[Decision] = []
        for v in victims:
            del self.candidates[v.task_id]
            self.quota.remove(v.team, v.demand)
            how = "it runs on borrowed quota of team " + (v.team or "-") if v.task_id in self.quota.borrowed \
                else f"it is {self.policy.klass(v.rank).name}, below {cls.name}"
            out.append(Preempt(v.task_id, p.task_id,
                               f"preempted for task {p.task_id} ({cls.name}, team {p.team or '-'}): {how}"))
        self.stopping += len(victims)
        index.chosen(victims)
        ids = ", ".join(str(v.task_id) for v in victims)
        out.append(Wait(p.task_id, f"preempting task(s) {ids} to make room; they get "
                                   f"{max(self.policy.klass(v.rank).grace_seconds for v in victims)} s to save a checkpoint"))
        return out

    def reserve(self, d: Demand) -> None:
        """Hold the best nodes of a starved task so smaller work cannot keep filling them."""
        nodes = heapq.nsmallest(d.nodes, (n for n in self.free.cpus
                                          if not (d.gpu_model and d.gpus) or self.free.model[n] == d.gpu_model),
                                key=lambda n: (-self.free.gpus[n], -self.free.cpus[n], n))
        for n in nodes:
            self.hold((n,), Demand(1, max(self.free.cpus[n], 0.0), max(self.free.gpus[n], 0.0)))


def borrowers_last(ordered: Iterator[Pending], state: _Pass) -> Iterator[Pending]:
    """Within each class, tasks that fit their team's nominal quota before tasks that must borrow
    (Kueue's order). Otherwise a borrower requeued by a reclaim takes back the room just freed for
    the lender, and the two take turns preempting each other. Starved tasks keep their place."""
    deferred: list[Pending] = []
    group: int | None = None
    now, max_wait, check = state.now, state.max_wait, state.quota.check
    for p in ordered:
        starved = now - p.queued_at >= max_wait > 0
        key = -1 if starved else p.priority_rank
        if key != group:
            yield from deferred
            deferred.clear()
            group = key
        if not starved and check(p.team, p.demand)[1]:
            deferred.append(p)
        else:
            yield p
    yield from deferred


def plan(snapshot: Snapshot, policy: Policy | None = None) -> list[Decision]:
    """Admit what fits and preempt what must yield, in policy order; every waiting task gets a reason."""
    policy = policy or Policy()
    if not snapshot.cluster_reachable:
        return [Wait(p.task_id, "waiting for the Ray cluster: its head is unreachable") for p in snapshot.pending]
    state = _Pass(snapshot, policy)
    decisions: list[Decision] = []
    for p in borrowers_last(order(snapshot.pending, policy, state.fs, snapshot.now), state):
        decisions.extend(state.decide(p))
    return decisions
