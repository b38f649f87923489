"""Fair share: each team's recent usage, decayed with a half-life, divided by its weight.

Usage is charged at admission (the task's total GPUs, or CPUs/8 for a CPU-only task) so a
burst counts at once, and the running tasks are charged again as time passes (see
:func:`accrue`). The order key follows Slurm's multifactor priority: a fair-share factor
``2 ** -(share / mean share)`` plus an age factor that grows with the wait up to a cap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from argus.scheduling.placement import Demand


def decay(usage: float, elapsed: float, half_life: float) -> float:
    if half_life <= 0 or elapsed <= 0:
        return usage
    return usage * 0.5 ** (elapsed / half_life)


def charge_of(demand: Demand) -> float:
    return demand.total_gpus if demand.gpus else demand.cpus * demand.nodes / 8.0


def accrue(usage: Mapping[str, float], running: Iterable[tuple[str | None, Demand]], elapsed: float,
           half_life: float) -> dict[str, float]:
    """Usage after ``elapsed`` seconds: the old usage decays and the running tasks add theirs."""
    out = {team: decay(value, elapsed, half_life) for team, value in usage.items()}
    if half_life > 0 and elapsed > 0:
        for team, demand in running:
            key = team or ""
            out[key] = out.get(key, 0.0) + charge_of(demand) * elapsed / half_life
    return out


class FairShare:
    """Scores teams within one planning pass; :meth:`charge` applies an admission at once."""

    def __init__(self, usage: Mapping[str, float], weights: Mapping[str, float], fs_weight: float,
                 age_weight: float, age_cap: float):
        self.usage = dict(usage)
        self.weights = weights
        self.fs_weight = fs_weight
        self.age_weight = age_weight
        self.age_cap = age_cap
        self._mean: float | None = None
        self._weighted: dict[str | None, float] = {}  # fs_weight * factor, per team, until a charge
        self.charges = 0  # bumps on every charge: scores read before it are stale

    def share(self, team: str | None) -> float:
        return self.usage.get(team or "", 0.0) / self.weights.get(team or "", 1.0)

    def mean(self) -> float:
        if self._mean is None:
            teams = set(self.usage) | set(self.weights)
            total_w = sum(self.weights.get(t, 1.0) for t in teams) or 1.0
            self._mean = sum(self.usage.values()) / total_w
        return self._mean

    def factor(self, team: str | None) -> float:
        mean = self.mean()
        if mean <= 0:
            return 1.0
        return 2.0 ** (-self.share(team) / mean)

    def priority(self, team: str | None, waited: float) -> float:
        age = min(max(waited, 0.0) / self.age_cap, 1.0) if self.age_cap > 0 else 0.0
        weighted = self._weighted.get(team)
        if weighted is None:
            weighted = self._weighted[team] = self.fs_weight * self.factor(team)
        return weighted + self.age_weight * age

    def charge(self, team: str | None, demand: Demand) -> None:
        key = team or ""
        self.usage[key] = self.usage.get(key, 0.0) + charge_of(demand)
        self._mean = None
        self._weighted.clear()
        self.charges += 1
