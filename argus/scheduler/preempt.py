"""Choosing victims: the smallest set of running tasks whose stop frees a placement.

Eligible victims are preemptible tasks of a lower class than the preemptor, or — when the
preemptor's team is within its nominal quota — tasks of other teams running on borrowed
quota in the same or a lower class (reclaim). A task that started less than the minimum
runtime ago, or was preempted less than the cooldown ago, is protected. Preference: borrowed
first, then the lowest class, then the newest; after a greedy pick the set is trimmed so no
victim is stopped that the placement does not need.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from argus.scheduler.placement import EPS, Demand, FreeMap
from argus.scheduler.policy import Policy


class Victim(Protocol):
    task_id: int
    placement: tuple[str, ...]
    demand: Demand
    rank: int
    team: str | None
    started_at: float
    last_preempted_at: float | None


def exposed(victim: Victim, policy: Policy, now: float) -> bool:
    """Preemptible at all now: its class allows it, past the minimum runtime and the cooldown."""
    if not policy.klass(victim.rank).preemptible:
        return False
    if now - victim.started_at < policy.min_runtime_seconds:
        return False
    return victim.last_preempted_at is None or now - victim.last_preempted_at >= policy.cooldown_seconds


def preference(victims: Sequence[Victim], borrowed: set[int]) -> list[Victim]:
    """Borrowed first, then the lowest class, then the newest."""
    return sorted(victims, key=lambda v: (v.task_id not in borrowed, -v.rank, -v.started_at, -v.task_id))


def eligible(victim: Victim, *, rank: int, team: str | None, reclaim: bool, borrowed: bool) -> bool:
    """May a task of class ``rank`` and ``team`` preempt an exposed ``victim``?"""
    if victim.rank > rank:
        return True
    return reclaim and borrowed and victim.rank == rank and (victim.team or "") != (team or "")


def choose(demand: Demand, free: FreeMap, candidates: Sequence[Victim]) -> list[Victim]:
    """Victims (in preference order) whose resources, given back to ``free``, fit ``demand``.

    ``candidates`` come in preference order. Per node: how many victims must stop for the node to fit; the
    cheapest ``demand.nodes`` nodes win, then the set is trimmed. ``free`` is left with the
    chosen victims' resources given back; empty when nothing works (``free`` unchanged).
    """
    pref = candidates
    index = {v.task_id: i for i, v in enumerate(pref)}
    by_node: dict[str, list[Victim]] = defaultdict(list)
    for victim in pref:
        for node_id in victim.placement:
            if node_id in free.cpus:
                by_node[node_id].append(victim)
    costs: list[tuple[int, int, str, list[Victim]]] = []
    for node_id, victims in by_node.items():
        if demand.gpu_model and demand.gpus and free.model.get(node_id) != demand.gpu_model:
            continue
        cpus, gpus, need = free.cpus[node_id], free.gpus[node_id], []
        for victim in victims:
            if cpus + EPS >= demand.cpus and gpus + EPS >= demand.gpus:
                break
            cpus, gpus = cpus + victim.demand.cpus, gpus + victim.demand.gpus
            need.append(victim)
        if need and cpus + EPS >= demand.cpus and gpus + EPS >= demand.gpus:
            costs.append((len(need), max(index[v.task_id] for v in need), node_id, need))
    have = 0
    for _ in free.candidates(demand):
        have += 1
        if have >= demand.nodes:
            return []  # it fits already; nothing to preempt
    costs.sort(key=lambda c: c[:3])  # fewest victims, then the most preferred ones
    if have + len(costs) < demand.nodes:
        return []
    chosen: list[Victim] = []
    for *_, need in costs[: demand.nodes - have]:
        chosen.extend(v for v in need if v not in chosen)
    for victim in chosen:
        free.give(victim.placement, victim.demand)
    if free.place(demand) is None:
        for victim in chosen:
            free.take(victim.placement, victim.demand)
        return []
    for victim in list(reversed(chosen)):  # trim: keep only what the placement needs
        free.take(victim.placement, victim.demand)
        if free.place(demand) is not None:
            chosen.remove(victim)
        else:
            free.give(victim.placement, victim.demand)
    chosen.sort(key=lambda v: index[v.task_id])
    return chosen
