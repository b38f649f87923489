"""The scheduling policy as plain data: priority classes, team quotas, fair-share knobs.

Built from settings by :func:`policy_from_settings` (an entry point passes it down); the
planner only reads it. Nothing here touches the DB, Ray or the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from argus.settings import Settings

ANY_FLAVOR = "*"


@dataclass(frozen=True)
class PriorityClass:
    name: str
    rank: int  # 0 is the highest class
    grace_seconds: int = 30  # RAY_JOB_STOP_WAIT_TIME_S for a preempted attempt
    may_preempt: bool = True  # may its tasks trigger preemption
    preemptible: bool = True  # may its tasks be preempted
    urgent: bool = False  # its tasks preempt victims still within their minimum runtime or cooldown


@dataclass(frozen=True)
class FlavorQuota:
    """Kueue-style quota of one resource flavor (a GPU model, or ``*`` for any)."""

    nominal: float
    borrowing_limit: float | None = None  # None: may borrow without limit; 0: may not borrow
    lending_limit: float | None = None  # None: lends all of its idle nominal quota


@dataclass(frozen=True)
class Team:
    name: str
    weight: float = 1.0
    quota: Mapping[str, FlavorQuota] = field(default_factory=dict)

    def quota_for(self, flavor: str) -> FlavorQuota | None:
        return self.quota.get(flavor) or self.quota.get(ANY_FLAVOR)


@dataclass(frozen=True)
class Policy:
    classes: tuple[PriorityClass, ...] = (
        PriorityClass("realtime", 0, grace_seconds=30, may_preempt=True, preemptible=False, urgent=True),
        PriorityClass("online", 1, grace_seconds=30, may_preempt=True, preemptible=True),
        PriorityClass("batch", 2, grace_seconds=60, may_preempt=True, preemptible=True),
    )
    teams: Mapping[str, Team] = field(default_factory=dict)
    half_life_seconds: float = 3600.0  # fair-share usage decays by half in this time
    fair_share_weight: float = 1.0
    age_weight: float = 0.5
    age_cap_seconds: float = 3600.0  # the age factor stops growing after this wait
    max_wait_seconds: float = 6 * 3600.0  # past this, a task goes first and holds nodes
    min_runtime_seconds: float = 60.0  # a task that started less than this ago is not preempted
    cooldown_seconds: float = 300.0  # nor one preempted less than this ago
    preemption: bool = True

    def rank_of(self, name: str) -> int:
        for cls in self.classes:
            if cls.name == name:
                return cls.rank
        return len(self.classes)

    def klass(self, rank: int) -> PriorityClass:
        for cls in self.classes:
            if cls.rank == rank:
                return cls
        return PriorityClass(f"rank-{rank}", rank, may_preempt=False, preemptible=True)

    def team(self, name: str | None) -> Team | None:
        return self.teams.get(name or "")

    def weight(self, name: str | None) -> float:
        team = self.team(name)
        return team.weight if team and team.weight > 0 else 1.0


def teams_from_config(config: Mapping[str, Mapping]) -> dict[str, Team]:
    """``{"nlp": {"weight": 1, "quota": {"H100": {"nominal": 16, ...}}}}`` → teams."""
    teams: dict[str, Team] = {}
    for name, body in config.items():
        quota = {flavor.upper() if flavor != ANY_FLAVOR else flavor: FlavorQuota(
                     float(q["nominal"]),
                     None if q.get("borrowing_limit") is None else float(q["borrowing_limit"]),
                     None if q.get("lending_limit") is None else float(q["lending_limit"]))
                 for flavor, q in (body.get("quota") or {}).items()}
        teams[name] = Team(name, float(body.get("weight", 1.0)), quota)
    return teams


def classes_from_config(order: list[str], config: Mapping[str, Mapping],
                        default_grace: int | None = None) -> tuple[PriorityClass, ...]:
    defaults = {c.name: c for c in Policy().classes}
    out = []
    for rank, name in enumerate(order):
        base = defaults.get(name, PriorityClass(name, rank))
        body = config.get(name, {})
        out.append(PriorityClass(
            name, rank,
            grace_seconds=int(body.get("grace_seconds", default_grace or base.grace_seconds)),
            may_preempt=bool(body.get("may_preempt", base.may_preempt)),
            preemptible=bool(body.get("preemptible", base.preemptible)),
            urgent=bool(body.get("urgent", base.urgent)),
        ))
    return tuple(out)


def policy_from_settings(settings: Settings) -> Policy:
    classes = classes_from_config(settings.priorities, settings.priority_classes,
                                  settings.stop_wait_seconds)
    return Policy(
        classes=classes,
        teams=teams_from_config(settings.teams),
        half_life_seconds=settings.fair_share_half_life_seconds,
        age_weight=settings.age_weight,
        age_cap_seconds=settings.age_cap_seconds,
        max_wait_seconds=settings.max_wait_seconds,
        min_runtime_seconds=settings.min_runtime_seconds,
        cooldown_seconds=settings.preempt_cooldown_seconds,
        preemption=settings.preemption,
    )


def grace_seconds(settings: Settings, priority: str) -> int:
    """RAY_JOB_STOP_WAIT_TIME_S for a task of class ``priority``."""
    policy = policy_from_settings(settings)
    return policy.klass(policy.rank_of(priority)).grace_seconds
