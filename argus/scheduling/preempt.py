"""Choosing victims: the smallest set of running tasks whose stop frees a placement.

Eligible victims are preemptible tasks of a lower class than the preemptor — of its own team,
or of another team when they run on borrowed quota or the preemptor's class is urgent — or,
when the preemptor's team is within its nominal quota, tasks of other teams running on borrowed
quota in the same class (reclaim). A task that started less than the minimum
runtime ago, or was preempted less than the cooldown ago, is shielded — from churn among online
and batch work only: the urgent top class (realtime) and a team reclaiming its own nominal quota
from a borrower preempt shielded victims too, after every unshielded choice. Preference:
borrowed first, then the lowest class, then the newest; after a greedy pick the set is trimmed
so no victim is stopped that the placement does not need.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from argus.scheduling.placement import EPS, Demand, FreeMap
from argus.scheduling.policy import Policy


class Victim(Protocol):
    task_id: int
    placement: tuple[str, ...]
    demand: Demand
    rank: int
    team: str | None
    started_at: float
    last_preempted_at: float | None


def shielded(victim: Victim, policy: Policy, now: float) -> bool:
    """Within its minimum runtime or its cooldown after a preemption."""
    if now - victim.started_at < policy.min_runtime_seconds:
        return True
    return victim.last_preempted_at is not None and now - victim.last_preempted_at < policy.cooldown_seconds


def pierces_shield(victim: Victim, *, urgent: bool, team: str | None, reclaim: bool, borrowed: bool) -> bool:
    """May this preemptor stop a shielded victim? An urgent class may; so may a team taking back
    its own nominal quota from another team's borrowed task. Churn among the rest is what the
    minimum runtime and the cooldown prevent."""
    return urgent or (reclaim and borrowed and (victim.team or "") != (team or ""))


def preference(victims: Sequence[Victim], borrowed: set[int]) -> list[Victim]:
    """Borrowed first, then the lowest class, then the newest."""
    return sorted(victims, key=lambda v: (v.task_id not in borrowed, -v.rank, -v.started_at, -v.task_id))


def eligible(victim: Victim, *, rank: int, team: str | None, reclaim: bool, borrowed: bool,
             urgent: bool = False) -> bool:
    """May a task of class ``rank`` and ``team`` preempt a preemptible ``victim``?

    A lower class: within the preemptor's own team; in another team only when the victim runs
    on borrowed quota or the preemptor's class is urgent (a team's work within its nominal quota
    is not taken by another team's online work, as in Kueue). The same class: only a reclaim of
    another team's borrowed quota.
    """
    same_team = (victim.team or "") == (team or "")
    if victim.rank > rank:
        return same_team or borrowed or urgent
    return reclaim and borrowed and victim.rank == rank and not same_team


def fewest_victims(demand: Demand, free: FreeMap, largest_gpus: float | None) -> int:
    """A lower bound on the victims any node needs to fit ``demand``: no victim holds more than
    ``largest_gpus`` GPUs and no node has more free than the fullest bucket of ``free``."""
    if not demand.gpus or not largest_gpus:
        return 1
    return max(1, math.ceil((demand.gpus - free.most_free(demand) - EPS) / largest_gpus))


def choose(demand: Demand, free: FreeMap, candidates: Iterable[Victim],
           largest_gpus: float | None = None) -> list[Victim]:
    """Victims (in preference order) whose stop frees a placement for ``demand``; see :func:`search`."""
    return search(demand, free, candidates, largest_gpus)[0]


def search(demand: Demand, free: FreeMap, candidates: Iterable[Victim],
           largest_gpus: float | None = None, least: int | None = None) -> tuple[list[Victim], int | None]:
    """Victims (in preference order) whose resources, given back to ``free``, fit ``demand``.

    ``candidates`` come in preference order. Per node: how many victims must stop for the node to fit; the
    cheapest ``demand.nodes`` nodes win, then the set is trimmed. ``free`` is left with the
    chosen victims' resources given back; empty when nothing works (``free`` unchanged).
    ``largest_gpus`` (an upper bound on any candidate's GPUs per node) lets the stream stop as soon
    as enough nodes fit with the fewest victims any node can need; the choice is the same.
    Second: when too few nodes can fit, how many can (fitting now, plus fitting once all their
    candidates stop); otherwise None. ``least``: :func:`fewest_victims` when the caller has it.
    """
    index: dict[int, int] = {}
    have = free.count_fitting(demand, stop=demand.nodes)
    if have >= demand.nodes:
        return [], None  # it fits already; nothing to preempt
    wanted = demand.nodes - have
    # Stream the victims in preference order, adding each to its nodes, until enough nodes fit
    # with the fewest victims any node can need (later completions sort after them: they need
    # as many and come later); otherwise keep the cheapest nodes found.
    least = fewest_victims(demand, free, largest_gpus) if least is None else least
    room: dict[str, list] = {}
    costs: list[tuple[int, int, str, list[Victim]]] = []
    cheapest = 0
    for position, victim in enumerate(candidates):
        index[victim.task_id] = position
        for node_id in victim.placement:
            if node_id not in free.cpus or (demand.gpu_model and demand.gpus
                                             and free.model.get(node_id) != demand.gpu_model):
                continue
            state = room.setdefault(node_id, [free.cpus[node_id], free.gpus[node_id], [], False])
            if state[3]:
                continue
            state[0] += victim.demand.cpus
            state[1] += victim.demand.gpus
            state[2].append(victim)
            if state[0] + EPS >= demand.cpus and state[1] + EPS >= demand.gpus:
                state[3] = True
                costs.append((len(state[2]), index[victim.task_id], node_id, state[2]))
                cheapest += len(state[2]) <= least
        if cheapest >= wanted:
            break
    costs.sort(key=lambda c: c[:3])  # fewest victims, then the most preferred ones
    if len(costs) < wanted:
        return [], have + len(costs)
    return settle(demand, free, [need for *_, need in costs[:wanted]], index), None


def settle(demand: Demand, free: FreeMap, needs: Sequence[Sequence[Victim]],
           position: Mapping[int, int]) -> list[Victim]:
    """Stop what ``needs`` (the victims of each chosen node) name, then keep only the victims the
    placement needs, in preference order (``position``: task id -> place in that order). ``free``
    is left with the chosen victims' resources given back; empty when no placement results."""
    chosen: list[Victim] = []
    for need in needs:
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
    chosen.sort(key=lambda v: position[v.task_id])
    return chosen
