"""A day of a bank's GPU work, shaped like the seeds describe it, and its status quo: static pools.

Teams and their nominal shares of the cluster (what each owns as a fixed pool today):

* ``risk`` 40 % — realtime risk models (1 node, 1–8 GPUs, 15–60 min) that follow the trading
  day: almost nothing at night, rising from 08:00, peaking after the 09:30 market open at a
  little under the team's share (its pool is sized for the peak), easing off after 16:00; a few
  batch backtests at night.
* ``nlp`` and ``vision`` 20 % each — research teams with online training runs (1–4 nodes × 8
  GPUs, 1–8 h) all day, asking for more than their share (research would use every idle GPU),
  plus small batch evaluations.
* ``analytics`` 20 % — batch analysis (1 node, 1–8 GPUs, 20 min–2 h): a little by day, most
  of it submitted in the evening (18:00–22:00) to run overnight.

The figures this produces are a model of the seeds' description, not a recording: every rate is
a parameter below, and the note in docs/performance.md says so.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from argus.scheduling.placement import Demand, FreeMap, Node
from argus.scheduling.planner import Admit, Snapshot

SHARES = {"risk": 0.40, "nlp": 0.20, "vision": 0.20, "analytics": 0.20}
HOUR = 3600.0


@dataclass(frozen=True)
class Stream:
    """One kind of work: a load profile (fraction of the cluster's GPUs by hour) and job shapes."""

    team: str
    rank: int  # 0 realtime, 1 online, 2 batch
    sizes: tuple[tuple[int, int], ...]  # (nodes, GPUs per node), equally likely
    minutes: tuple[float, float]  # duration, uniform in this range
    load: tuple[float, ...]  # 24 values: offered GPU load as a fraction of the cluster, per hour


def _profile(points: dict[int, float]) -> tuple[float, ...]:
    """24 hourly values, linear between the given hours (wrapping at midnight)."""
    hours = sorted(points)
    out = []
    for h in range(24):
        before = max((x for x in hours if x <= h), default=hours[-1] - 24)
        after = min((x for x in hours if x > h), default=hours[0] + 24)
        a, b = points[before % 24], points[after % 24]
        out.append(a + (b - a) * (h - before) / (after - before))
    return tuple(out)


STREAMS = (
    Stream("risk", 0, ((1, 1), (1, 2), (1, 4), (1, 8)), (15, 60),
           _profile({0: 0.02, 7: 0.02, 9: 0.30, 11: 0.38, 14: 0.32, 16: 0.25, 18: 0.05, 23: 0.02})),
    Stream("risk", 2, ((1, 2), (1, 4)), (30, 90),
           _profile({0: 0.04, 5: 0.04, 7: 0.0, 19: 0.0, 21: 0.04})),
    Stream("nlp", 1, ((1, 8), (2, 8), (4, 8)), (60, 480), _profile({0: 0.30, 12: 0.30})),
    Stream("vision", 1, ((1, 8), (2, 8), (4, 8)), (60, 480), _profile({0: 0.30, 12: 0.30})),
    Stream("nlp", 2, ((1, 1), (1, 2), (1, 4)), (10, 60), _profile({0: 0.03, 12: 0.03})),
    Stream("vision", 2, ((1, 1), (1, 2), (1, 4)), (10, 60), _profile({0: 0.03, 12: 0.03})),
    Stream("analytics", 2, ((1, 1), (1, 2), (1, 4), (1, 8)), (20, 120),
           _profile({0: 0.02, 17: 0.02, 18: 0.60, 22: 0.60, 23: 0.02})),
)


@dataclass
class Arrival:
    team: str
    rank: int
    demand: Demand
    submit: float
    duration: float


def bank_day(seed: int, total_gpus: int, days: float = 1.0) -> list[Arrival]:
    """Poisson arrivals whose rate follows each stream's hourly load profile."""
    rng = random.Random(seed)
    out: list[Arrival] = []
    horizon = days * 24 * HOUR
    for stream in STREAMS:
        mean_gpus = sum(n * g for n, g in stream.sizes) / len(stream.sizes)
        mean_seconds = 60 * sum(stream.minutes) / 2
        peak_rate = max(stream.load) * total_gpus / (mean_gpus * mean_seconds)
        if peak_rate <= 0:
            continue
        t = 0.0
        while True:  # thinning: candidates at the peak rate, kept in proportion to the hour's load
            t += rng.expovariate(peak_rate)
            if t >= horizon:
                break
            if rng.random() * max(stream.load) > stream.load[int(t // HOUR) % 24]:
                continue
            nodes, gpus = rng.choice(stream.sizes)
            out.append(Arrival(stream.team, stream.rank, Demand(nodes, 4, gpus, "H100"), t,
                               60 * rng.uniform(*stream.minutes)))
    out.sort(key=lambda a: a.submit)
    return out


def pools(nodes: list[Node], shares: dict[str, float]) -> dict[str, list[Node]]:
    """Split the nodes into one fixed pool per team, sized by its share (largest remainders)."""
    exact = {team: share * len(nodes) for team, share in shares.items()}
    counts = {team: math.floor(x) for team, x in exact.items()}
    for team in sorted(exact, key=lambda t: exact[t] - counts[t], reverse=True)[:len(nodes) - sum(counts.values())]:
        counts[team] += 1
    out, start = {}, 0
    for team, count in counts.items():
        out[team] = nodes[start:start + count]
        start += count
    return out


def static_pools(nodes: list[Node], shares: dict[str, float]):  # noqa: ANN201
    """The status quo: each team confined to its own nodes; inside, priority then arrival order,
    admit whatever fits (no borrowing, no preemption)."""
    owner = {n.node_id: team for team, members in pools(nodes, shares).items() for n in members}
    by_team = pools(nodes, shares)

    def planner(snapshot: Snapshot, _policy=None) -> list:  # noqa: ANN001
        out = []
        for team, members in by_team.items():
            running = [(r.placement, r.demand) for r in snapshot.running if owner[r.placement[0]] == team]
            free = FreeMap.build(members, running)
            for p in sorted((p for p in snapshot.pending if p.team == team),
                            key=lambda p: (p.priority_rank, p.queued_at, p.task_id)):
                placement = free.place(p.demand)
                if placement is not None:
                    free.take(placement, p.demand)
                    out.append(Admit(p.task_id, placement))
        return out

    return planner
