"""The scheduling policy as plain data: priority classes, team quotas, fair-share knobs.

Built once from the typed settings by :func:`policy_from_settings`; the database holds the
parts an admin may change at run time (priority classes, team quotas: services/policy.py
overlays them with :func:`with_overrides`). The planner only reads it. Nothing here touches
the DB, Ray or the clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from argus.settings import PriorityClassConfig, Settings, TeamConfig

ANY_FLAVOR = "*"


@dataclass(frozen=True)
class PriorityClass:
    name: str
    rank: int  # 0 is the highest class
    grace_seconds: int = 30  # RAY_JOB_STOP_WAIT_TIME_S for a preempted attempt
    may_preempt: bool = True  # may its tasks trigger preemption
    preemptible: bool = True  # may its tasks be preempted

    @property
    def urgent(self) -> bool:
        """The top class (realtime): preempts lower classes of any team, and victims still within
        their minimum runtime or cooldown."""
        return self.rank == 0


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
        PriorityClass("realtime", 0, grace_seconds=30, may_preempt=True, preemptible=False),
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


# The built-in classes' stop grace; a class not built in gets ARGUS_STOP_WAIT_SECONDS.
BUILT_IN = {c.name: c for c in Policy().classes}


def teams_from_config(config: Mapping[str, TeamConfig]) -> dict[str, Team]:
    """``{"nlp": TeamConfig(weight=1, quota={"H100": FlavorQuotaConfig(nominal=16)})}`` → teams."""
    teams: dict[str, Team] = {}
    for name, body in config.items():
        body = TeamConfig.model_validate(body)
        quota = {flavor_key(flavor): FlavorQuota(q.nominal, q.borrowing_limit, q.lending_limit)
                 for flavor, q in body.quota.items()}
        teams[name] = Team(name, body.weight, quota)
    return teams


def flavor_key(flavor: str) -> str:
    """GPU models are compared upper-case; ``*`` is any flavor."""
    return flavor if flavor == ANY_FLAVOR else flavor.upper()


def classes_from_config(order: list[str], config: Mapping[str, PriorityClassConfig],
                        default_grace: int = 30) -> tuple[PriorityClass, ...]:
    """Classes in ``order`` (highest first); a built-in class keeps its own grace unless set."""
    out = []
    for rank, name in enumerate(order):
        base = BUILT_IN.get(name, PriorityClass(name, rank, grace_seconds=default_grace))
        body = PriorityClassConfig.model_validate(config.get(name, {}))
        out.append(PriorityClass(
            name, rank,
            grace_seconds=base.grace_seconds if body.grace_seconds is None else body.grace_seconds,
            may_preempt=base.may_preempt if body.may_preempt is None else body.may_preempt,
            preemptible=base.preemptible if body.preemptible is None else body.preemptible,
        ))
    return tuple(out)


def with_overrides(base: Policy, classes: Sequence[PriorityClass] | None,
                   teams: Mapping[str, Team] | None) -> Policy:
    """``base`` with the classes and teams stored in the database (None: keep the base's)."""
    return replace(base,
                   classes=tuple(sorted(classes, key=lambda c: c.rank)) if classes is not None else base.classes,
                   teams=dict(teams) if teams is not None else base.teams)


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


def grace_seconds(policy: Policy, priority: str) -> int:
    """RAY_JOB_STOP_WAIT_TIME_S for a task of class ``priority``."""
    return policy.klass(policy.rank_of(priority)).grace_seconds
