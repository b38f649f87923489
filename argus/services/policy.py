"""The one scheduling policy: knobs built once from the typed settings, priority classes and team
quotas kept in the database so that an admin can change them without a restart.

:func:`seed_policy` copies ARGUS_PRIORITIES / ARGUS_PRIORITY_CLASSES / ARGUS_TEAMS into the
database once (the first start); after that the database is the truth and the settings only
seed a fresh installation. :class:`PolicySource` is what the loop, the API and the preparer ask.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import select

from argus.authz import Principal, require_action
from argus.db.audit import RequestAudit
from argus.db.engine import Database
from argus.db.models import Installation, PriorityClassRow, Task, TeamPolicy
from argus.errors import BadRequest, Conflict, NotFound
from argus.scheduling.policy import (BUILT_IN, FlavorQuota, Policy, PriorityClass, Team, flavor_key,
                                     policy_from_settings, with_overrides)
from argus.settings import FlavorQuotaConfig, PriorityClassConfig, Settings
from argus.states import ACTIVE, TaskStatus

NAME_MAX = 64


def seed_policy(db: Database, settings: Settings, *, actor: str = "settings") -> bool:
    """Write the settings' classes and teams into the database unless done before; True if done now.

    One write transaction that re-checks the marker, so two servers starting together seed once."""
    base = policy_from_settings(settings)
    with db.write() as session:
        row = session.scalars(select(Installation).limit(1).with_for_update()).first()
        if row is None or row.policy_seeded_at is not None:
            return False
        ts = time.time()
        if session.scalar(select(PriorityClassRow.name).limit(1)) is None:
            for cls in base.classes:
                session.add(_class_row(cls, ts, actor))
        for team in base.teams.values():
            if session.get(TeamPolicy, team.name) is None:
                session.add(TeamPolicy(team=team.name, weight=team.weight, quota=_quota_json(team.quota),
                                       updated_at=ts, updated_by=actor))
        row.policy_seeded_at = ts
    return True


def load_policy(db: Database, base: Policy) -> Policy:
    """``base`` with the database's classes and teams; ``base`` as it is before the first seed."""
    with db.read() as session:
        seeded = session.scalar(select(Installation.policy_seeded_at).limit(1))
        if seeded is None:
            return base
        classes = [PriorityClass(r.name, r.rank, r.grace_seconds, r.may_preempt, r.preemptible)
                   for r in session.scalars(select(PriorityClassRow))]
        teams = {r.team: Team(r.team, r.weight, {f: FlavorQuota(q["nominal"], q.get("borrowing_limit"),
                                                                 q.get("lending_limit"))
                                                  for f, q in (r.quota or {}).items()})
                 for r in session.scalars(select(TeamPolicy))}
    return with_overrides(base, classes or None, teams)


class PolicySource:
    """Built once per process from the settings; :meth:`current` adds the database's part,
    re-read at most every ``ttl`` seconds (a change applies from the next scheduler tick)."""

    def __init__(self, settings: Settings, db: Database | None = None, *, ttl: float = 1.0,
                 base: Policy | None = None):
        self.base = base or policy_from_settings(settings)
        self.db = db
        self.ttl = ttl
        self._cached: tuple[float, Policy] | None = None
        self._lock = threading.Lock()

    def current(self) -> Policy:
        if self.db is None:
            return self.base
        cached = self._cached  # a fresh one needs no lock (every submit asks, from many threads)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] >= self.ttl:
                self._cached = (time.monotonic(), load_policy(self.db, self.base))
            return self._cached[1]

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None


def policy_view(db: Database, actor: Principal, source: PolicySource) -> dict[str, Any]:
    require_action(actor, "policy.read")
    policy = load_policy(db, source.base)
    return {
        "priority_classes": [_class_view(c) for c in policy.classes],
        "teams": [_team_view(t) for _, t in sorted(policy.teams.items())],
    }


def set_team_quota(db: Database, actor: Principal, team: str, *, flavor: str | None = None,
                   quota: FlavorQuotaConfig | None = None, weight: float | None = None,
                   audit: RequestAudit | None = None) -> dict[str, Any]:
    """Set a team's quota of one flavor and/or its weight; creates the team's policy row."""
    require_action(actor, "policy.write")
    _check_name("team", team)
    if (flavor is None) != (quota is None):
        raise BadRequest("give both a flavor and its quota (nominal), or neither")
    if flavor is None and weight is None:
        raise BadRequest("nothing to change: give --flavor with --nominal, or --weight")
    with db.write() as session:
        _require_seeded(session)
        row = session.get(TeamPolicy, team)
        if row is None:
            row = TeamPolicy(team=team, weight=1.0, quota={}, updated_at=0.0, updated_by="")
            session.add(row)
        if flavor is not None:
            _check_name("flavor", flavor)
            row.quota = {**(row.quota or {}), flavor_key(flavor): quota.model_dump()}
        if weight is not None:
            row.weight = weight
        row.updated_at, row.updated_by = time.time(), actor.name
        view = _team_row_view(row)
        if audit is not None:
            audit.record(session, target=f"team/{team}/quota", **view)
    return view


def clear_team_quota(db: Database, actor: Principal, team: str, *, flavor: str | None = None,
                     audit: RequestAudit | None = None) -> dict[str, Any]:
    """Remove one flavor's quota, or (no flavor) the team's whole policy row: it is then unlimited."""
    require_action(actor, "policy.write")
    with db.write() as session:
        _require_seeded(session)
        row = session.get(TeamPolicy, team)
        if row is None:
            raise NotFound(f"team '{team}' has no quota; `argus team quota show` lists those that do")
        if flavor is None:
            session.delete(row)
            view = {"team": team, "weight": None, "quota": {}}
        else:
            key = flavor_key(flavor)
            if key not in (row.quota or {}):
                raise NotFound(f"team '{team}' has no quota for flavor '{key}'")
            row.quota = {f: q for f, q in row.quota.items() if f != key}
            row.updated_at, row.updated_by = time.time(), actor.name
            view = _team_row_view(row)
        if audit is not None:
            audit.record(session, target=f"team/{team}/quota", cleared=flavor or "all")
    return view


def set_priority_class(db: Database, actor: Principal, name: str, change: PriorityClassConfig, *,
                       rank: int | None = None, default_grace: int = 30,
                       audit: RequestAudit | None = None) -> dict[str, Any]:
    """Create or change a class. A new class without ``rank`` goes last; a rank taken by another
    class moves that class and those below it down by one."""
    require_action(actor, "policy.write")
    _check_name("priority class", name)
    with db.write() as session:
        _require_seeded(session)
        rows = {r.name: r for r in session.scalars(select(PriorityClassRow).order_by(PriorityClassRow.rank))}
        row = rows.get(name)
        if row is None:
            base = BUILT_IN.get(name, PriorityClass(name, 0, grace_seconds=default_grace))
            row = PriorityClassRow(name=name, rank=len(rows), grace_seconds=base.grace_seconds,
                                   may_preempt=base.may_preempt, preemptible=base.preemptible,
                                   updated_at=0.0, updated_by="")
        for key, value in change.model_dump(exclude_none=True).items():
            setattr(row, key, value)
        order = [r for r in rows.values() if r.name != name]
        order.insert(min(rank if rank is not None else row.rank, len(order)), row)
        _renumber(session, order, row)
        row.updated_at, row.updated_by = time.time(), actor.name
        view = _class_view(PriorityClass(row.name, row.rank, row.grace_seconds, row.may_preempt, row.preemptible))
        if audit is not None:
            audit.record(session, target=f"priority-class/{name}", **view)
    return view


def delete_priority_class(db: Database, actor: Principal, name: str, *,
                          audit: RequestAudit | None = None) -> dict[str, Any]:
    """Remove a class no queued or running task uses (never the last one)."""
    require_action(actor, "policy.write")
    with db.write() as session:
        _require_seeded(session)
        rows = list(session.scalars(select(PriorityClassRow).order_by(PriorityClassRow.rank)))
        row = next((r for r in rows if r.name == name), None)
        if row is None:
            raise NotFound(f"priority class '{name}' does not exist")
        if len(rows) == 1:
            raise Conflict("the last priority class cannot be removed")
        live = [s.value for s in (*ACTIVE, TaskStatus.QUEUED)]
        user = session.scalar(select(Task.id).where(Task.priority == name, Task.status.in_(live)).limit(1))
        if user is not None:
            raise Conflict(f"task {user} (queued or running) is of class '{name}'; wait for it or cancel it")
        session.delete(row)
        session.flush()
        _renumber(session, [r for r in rows if r.name != name], None)
        if audit is not None:
            audit.record(session, target=f"priority-class/{name}", deleted=True)
    return {"name": name, "deleted": True}


def _renumber(session, order: list[PriorityClassRow], new: PriorityClassRow | None) -> None:  # noqa: ANN001
    """Ranks 0..n-1 in ``order``; stored rows are moved out of the way first (ranks are unique)."""
    for i, r in enumerate(order):
        if r in session:
            r.rank = -1 - i
    session.flush()
    for i, r in enumerate(order):
        r.rank = i
        if r is new and r not in session:
            session.add(r)
    session.flush()


def _require_seeded(session) -> None:  # noqa: ANN001
    if session.scalar(select(Installation.policy_seeded_at).limit(1)) is None:
        raise Conflict("the policy tables are not seeded yet: start `argus server` or `argus scheduler` once")


def _check_name(what: str, value: str) -> None:
    extra = "-_.*" if what == "flavor" else "-_."
    if not value or len(value) > NAME_MAX or not all(c.isalnum() or c in extra for c in value):
        raise BadRequest(f"{what} {value[:80]!r} is not valid: use 1-{NAME_MAX} letters, digits, '-', '_' or '.'")


def _class_row(cls: PriorityClass, ts: float, actor: str) -> PriorityClassRow:
    return PriorityClassRow(name=cls.name, rank=cls.rank, grace_seconds=cls.grace_seconds,
                            may_preempt=cls.may_preempt, preemptible=cls.preemptible,
                            updated_at=ts, updated_by=actor)


def _quota_json(quota: dict[str, FlavorQuota]) -> dict[str, dict]:
    return {f: {"nominal": q.nominal, "borrowing_limit": q.borrowing_limit, "lending_limit": q.lending_limit}
            for f, q in quota.items()}


def _class_view(cls: PriorityClass) -> dict[str, Any]:
    return {"name": cls.name, "rank": cls.rank, "grace_seconds": cls.grace_seconds,
            "may_preempt": cls.may_preempt, "preemptible": cls.preemptible}


def _team_view(team: Team) -> dict[str, Any]:
    return {"team": team.name, "weight": team.weight, "quota": _quota_json(dict(team.quota))}


def _team_row_view(row: TeamPolicy) -> dict[str, Any]:
    return {"team": row.team, "weight": row.weight, "quota": dict(row.quota or {})}
