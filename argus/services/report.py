"""Usage reports (``argus report``, ``GET /v1/reports/usage``): per team, user or priority over a
window — GPU-hours, tasks, queue wait p50/p95, preemptions, failures by reason, and GPUs in use
over time.

Everything is read from tasks and attempts (never from the event table, which retention
compacts): an attempt's GPU-hours are its running time inside the window times the task's
GPUs; its wait runs from when it was queued (the task's creation for the first attempt, the
previous attempt's end for the next) to its start; an attempt that ended back in the queue was
preempted (or drained off a quarantined node).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select

from argus.authz import Principal, Scope, require_action
from argus.db.engine import Database
from argus.db.models import Attempt, Task
from argus.errors import BadRequest
from argus.states import TaskStatus

GROUPS = {"team": Task.team, "user": Task.owner, "priority": Task.priority}
MAX_WINDOW = 400 * 86400.0
BUCKETS = 24  # points of the utilisation series
S = TaskStatus


@dataclass(frozen=True)
class Window:
    since: float
    until: float

    @property
    def step(self) -> float:
        return (self.until - self.since) / BUCKETS

    def overlap(self, start: float, end: float) -> float:
        return max(0.0, min(end, self.until) - max(start, self.since))


def window(since: float | None, until: float | None, now: float) -> Window:
    until = now if until is None else until
    if since is None:
        raise BadRequest("since: give the start of the report, e.g. --since 2026-11-01 or 30d")
    if since >= until:
        raise BadRequest(f"since ({since:.0f}) must be before until ({until:.0f})")
    if until - since > MAX_WINDOW:
        raise BadRequest("the window is longer than 400 days; give a shorter --since/--until")
    return Window(since, until)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _empty() -> dict[str, Any]:
    return {"gpu_hours": 0.0, "tasks_submitted": 0, "tasks_succeeded": 0, "tasks_failed": 0,
            "tasks_cancelled": 0, "starts": 0, "waits": [], "preemptions": 0,
            "failures": defaultdict(int), "gpus_over_time": [0.0] * BUCKETS}


def _attempts(db: Database, win: Window, key, team: str | None):  # noqa: ANN001, ANN202
    query = (select(key, Task.id, Task.created_at, Task.gpus_per_node * Task.nodes, Attempt)
             .join(Attempt, Attempt.task_id == Task.id)
             .where(Attempt.created_at < win.until,
                    or_(Attempt.ended_at.is_(None), Attempt.ended_at >= win.since))
             .order_by(Task.id, Attempt.number))
    if team is not None:
        query = query.where(Task.team == team)
    with db.read() as session:
        return session.execute(query).all()


def _previous_ends(db: Database, task_ids: set[int]) -> dict[tuple[int, int], float]:
    with db.read() as session:
        rows = session.execute(select(Attempt.task_id, Attempt.number, Attempt.ended_at)
                               .where(Attempt.task_id.in_(task_ids))).all()
    return {(t, n): e for t, n, e in rows if e is not None}


def _account(groups: dict, win: Window, rows, now: float, db: Database) -> None:  # noqa: ANN001
    ends = _previous_ends(db, {row[1] for row in rows}) if rows else {}
    for group, task_id, created, gpus, attempt in rows:
        g = groups[group or ""]
        if attempt.started_at is not None:
            end = attempt.ended_at or now
            g["gpu_hours"] += gpus * win.overlap(attempt.started_at, end) / 3600
            for i in range(BUCKETS):
                lo = win.since + i * win.step
                g["gpus_over_time"][i] += gpus * win.overlap(max(lo, attempt.started_at), min(lo + win.step, end)) / win.step
            if win.since <= attempt.started_at < win.until:
                queued = created if attempt.number == 1 else ends.get((task_id, attempt.number - 1), created)
                g["starts"] += 1
                g["waits"].append(max(0.0, attempt.started_at - queued))
        if attempt.status == S.QUEUED.value and attempt.ended_at and win.since <= attempt.ended_at < win.until:
            g["preemptions"] += 1


def _tasks(groups: dict, win: Window, db: Database, key, team: str | None) -> None:  # noqa: ANN001
    query = select(key, Task.status, Task.termination, Task.created_at, Task.finished_at).where(
        or_((Task.created_at >= win.since) & (Task.created_at < win.until),
            (Task.finished_at >= win.since) & (Task.finished_at < win.until)))
    if team is not None:
        query = query.where(Task.team == team)
    with db.read() as session:
        for group, status, termination, created, finished in session.execute(query):
            g = groups[group or ""]
            if win.since <= created < win.until:
                g["tasks_submitted"] += 1
            if finished is not None and win.since <= finished < win.until:
                if status == S.SUCCEEDED.value:
                    g["tasks_succeeded"] += 1
                elif status == S.CANCELLED.value:
                    g["tasks_cancelled"] += 1
                elif status == S.FAILED.value:
                    g["tasks_failed"] += 1
                    g["failures"][termination or "UNKNOWN"] += 1


def usage(db: Database, actor: Principal, *, by: str, since: float | None, until: float | None,
          now: float | None = None) -> dict[str, Any]:
    scope = require_action(actor, "report.read")
    if by not in GROUPS:
        raise BadRequest(f"by: '{by}' is not a grouping; use one of: {', '.join(GROUPS)}")
    now = time.time() if now is None else now
    win = window(since, until, now)
    team = None if scope is Scope.ALL else (actor.team or "\0")  # a team scope sees its team only
    groups: dict[str, dict[str, Any]] = defaultdict(_empty)
    _account(groups, win, _attempts(db, win, GROUPS[by], team), now, db)
    _tasks(groups, win, db, GROUPS[by], team)
    rows = []
    for name in sorted(groups):
        g = groups[name]
        rows.append({
            by: name, "gpu_hours": round(g["gpu_hours"], 3), "tasks_submitted": g["tasks_submitted"],
            "tasks_succeeded": g["tasks_succeeded"], "tasks_failed": g["tasks_failed"],
            "tasks_cancelled": g["tasks_cancelled"], "starts": g["starts"],
            "wait_p50_seconds": _round(percentile(g["waits"], 0.5)),
            "wait_p95_seconds": _round(percentile(g["waits"], 0.95)),
            "preemptions": g["preemptions"], "failures_by_reason": dict(sorted(g["failures"].items())),
            "gpus_over_time": [round(v, 3) for v in g["gpus_over_time"]],
        })
    return {"by": by, "since": win.since, "until": win.until, "bucket_seconds": win.step,
            "scope": "all" if team is None else f"team {actor.team}", "rows": rows}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
