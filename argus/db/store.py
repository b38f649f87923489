"""Writes that change a task's status: compare-and-set UPDATE plus an event row, one transaction."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from argus.db import audit
from argus.db.models import Attempt, Event, Installation, Task
from argus.errors import InvalidTransition, NotFound
from argus.states import TaskStatus, can_transition


def now() -> float:
    return time.time()


def transition(
    session: Session,
    task_id: int,
    src: TaskStatus,
    dst: TaskStatus,
    *,
    reason: str = "",
    actor: str = "system",
    attempt: int | None = None,
    audit_params: dict[str, Any] | None = None,
    **fields: Any,
) -> bool:
    """Move ``task_id`` from ``src`` to ``dst`` if it is still in ``src``.

    Returns False (and writes nothing) when another writer got there first; raises
    InvalidTransition for a change the state machine does not allow. A scheduler change
    (actor "system" or "scheduler") is also written to the audit trail, with ``audit_params`` (e.g. the
    preemptor of a preemption).
    """
    if not can_transition(src, dst):
        raise InvalidTransition(f"task {task_id}: {src.value} -> {dst.value} is not allowed")
    ts = now()
    values: dict[str, Any] = {"status": dst.value, "reason": reason, "updated_at": ts, **fields}
    if dst.is_terminal():
        values.setdefault("finished_at", ts)
    result = session.execute(
        update(Task).where(Task.id == task_id, Task.status == src.value).values(**values)
    )
    if result.rowcount != 1:
        return False
    session.add(
        Event(
            task_id=task_id,
            attempt=attempt,
            ts=ts,
            from_status=src.value,
            to_status=dst.value,
            reason=reason,
            actor=actor,
        )
    )
    if actor in ("system", "scheduler"):  # API-driven changes are audited with their request
        audit.append(session, actor="scheduler", action=f"task.{dst.value.lower()}",
                     target=f"task/{task_id}", outcome="ok", ts=ts,
                     params={"from": src.value, "to": dst.value, "attempt": attempt,
                             "reason": reason, **(audit_params or {})})
    return True


INSERT_EVENT = Event.__table__.insert()


def record_created(session: Session, task_id: int, ts: float, status: str, actor: str) -> None:
    """The task's first event. A plain INSERT: the submit path writes many of these at once."""
    session.connection().execute(INSERT_EVENT, {
        "task_id": task_id, "ts": ts, "from_status": None, "to_status": status,
        "reason": "submitted", "actor": actor, "attempt": None})


def installation_id(session: Session) -> str:
    """This database's random id (one row, written by migration 0004)."""
    value = session.scalar(select(Installation.id).limit(1))
    if value is None:
        raise RuntimeError("the installation table is empty: run the migrations (argus server does)")
    return value


def get_task(session: Session, task_id: int) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    return task


def current_attempt(session: Session, task: Task) -> Attempt | None:
    if not task.attempts:
        return None
    return session.scalar(
        select(Attempt).where(Attempt.task_id == task.id, Attempt.number == task.attempts)
    )


def current_attempts(session: Session, tasks: Sequence[Task]) -> dict[int, Attempt]:
    """Each task's current attempt, in one query (a list page must not query once per row)."""
    wanted = [t for t in tasks if t.attempts]
    if not wanted:
        return {}
    current = {t.id: t.attempts for t in wanted}
    rows = session.scalars(select(Attempt).where(Attempt.task_id.in_(list(current))))
    return {a.task_id: a for a in rows if a.number == current[a.task_id]}


def update_attempt(session: Session, attempt_id: int, **fields: Any) -> None:
    session.execute(update(Attempt).where(Attempt.id == attempt_id).values(**fields))
