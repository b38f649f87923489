"""Task services: the API and CLI record intent here; the scheduler loop acts on it.

Every function takes the database explicitly; nothing here talks to Ray.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, func, select, update

from argus.db.audit import RequestAudit
from argus.db.engine import Database
from argus.db.models import Attempt, Event, Task
from argus.db.store import current_attempt, current_attempts, get_task, now, record_created, transition
from argus.errors import Conflict, InvalidSpec, InvalidTransition
from argus.services.paths import snapshots_in
from argus.services.prepare import Preparer
from argus.services.views import task_view
from argus.settings import Settings
from argus.states import TaskStatus
from taskspec import CustomTask, SpecIssue, VerlTask, load_spec_data

S = TaskStatus


TASKS = Task.__table__
INSERT_TASK = TASKS.insert()  # built once: the statements' compiled forms are cached
SET_CHECKPOINT_DIR = (update(TASKS).where(TASKS.c.id == bindparam("task"))
                      .values(checkpoint_dir=bindparam("dir")))
# A new row as the columns' defaults make it (None where there is none); _add_task sets the rest.
NEW_TASK: dict[str, Any] = {c.key: c.default.arg if c.default is not None and c.default.is_scalar else None
                            for c in TASKS.columns}


def _checkpoint_dir(settings: Settings, task_id: int, name: str) -> str:
    return str(settings.checkpoint_root / f"{task_id}-{name}")


def create_task(
    db: Database,
    settings: Settings,
    spec: CustomTask | VerlTask,
    spec_text: str = "",
    *,
    owner: str | None = None,
    team: str | None = None,
    idempotency_key: str | None = None,
    checkpoint_dir: str | None = None,
    resubmit_of: int | None = None,
    audit: RequestAudit | None = None,
    preparer: Preparer | None = None,
) -> dict[str, Any]:
    """Queue a checked spec. A repeated Idempotency-Key returns the task it created first;
    keys are per owner (another user's same key is another request).

    ``audit``: the request's audit entry, written in the same transaction as the task.
    ``preparer``: the server's (a new one from ``settings`` when not given)."""
    spec_data = spec.model_dump(mode="json")
    # Before the transaction: it may read the tree.
    cpus = (preparer or Preparer(settings)).cpus_per_node(spec)

    def write(session) -> dict[str, Any]:  # noqa: ANN001
        if idempotency_key:
            existing = session.scalar(select(Task).where(Task.owner == owner,
                                                         Task.idempotency_key == idempotency_key))
            if existing is not None:
                if existing.spec != spec_data:  # refused before writing anything (db.grouped)
                    raise Conflict(
                        f"Idempotency-Key '{idempotency_key}' was already used for task "
                        f"{existing.id} with a different spec; use a new key"
                    )
                return task_view(existing, current_attempt(session, existing))
        return _add_task(session, settings, spec, spec_text, owner=owner, team=team,
                         idempotency_key=idempotency_key, checkpoint_dir=checkpoint_dir,
                         resubmit_of=resubmit_of, audit=audit, cpus_per_node=cpus, spec_data=spec_data)

    # Concurrent submits share one transaction and one fsync; each returns once it committed.
    return db.grouped(write)


def _add_task(session, settings: Settings, spec: CustomTask | VerlTask, spec_text: str, *,  # noqa: ANN001
              owner: str | None, team: str | None, idempotency_key: str | None,
              checkpoint_dir: str | None, resubmit_of: int | None,
              audit: RequestAudit | None, cpus_per_node: float,
              spec_data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Insert the QUEUED task, its creation event and audit entry into the caller's transaction.

    ``cpus_per_node``: what admission counts (Preparer.cpus_per_node, read before the transaction)."""
    spec_data = spec.model_dump(mode="json") if spec_data is None else spec_data
    gpus = spec.resources.gpus_per_node
    ts = now()
    values: dict[str, Any] = dict(
        name=spec.name, kind=spec.kind, priority=spec.priority,
        team=team or spec.team, owner=owner, status=S.QUEUED.value, reason="queued",
        spec=spec_data, spec_text=spec_text, checkpoint_dir=checkpoint_dir or "",
        nodes=spec.resources.nodes, gpus_per_node=0.0 if gpus.shared else gpus.count,
        cpus_per_node=cpus_per_node, gpu_model=gpus.model,
        max_attempts=spec.retry.max_attempts, idempotency_key=idempotency_key,
        resubmit_of=resubmit_of, created_at=ts, updated_at=ts, queued_at=ts,
        snapshots=snapshots_in(spec) or None,
    )
    # Plain INSERTs, not the ORM's unit of work (a third of a submit's CPU): this runs once per
    # submit inside a group commit. The id names the checkpoint directory, so it follows.
    conn = session.connection()
    task_id = conn.execute(INSERT_TASK, values).inserted_primary_key[0]
    if not checkpoint_dir:
        values["checkpoint_dir"] = _checkpoint_dir(settings, task_id, spec.name)
        conn.execute(SET_CHECKPOINT_DIR, {"task": task_id, "dir": values["checkpoint_dir"]})
    record_created(session, task_id, ts, S.QUEUED.value, owner or "anonymous")
    if audit is not None:
        audit.record(session, target=f"task/{task_id}", owner=owner, team=values["team"])
    return task_view(SimpleNamespace(**{**NEW_TASK, **values, "id": task_id}), None)  # type: ignore[arg-type]


def list_tasks(
    db: Database,
    *,
    statuses: list[str] | None = None,
    priority: str | None = None,
    owner: str | None = None,
    team: str | None = None,
    limit: int = 50,
    offset: int = 0,
    after: int | None = None,
    visible: Any = None,
) -> dict[str, Any]:
    """Newest first (by id). ``visible``: a WHERE clause limiting the list to what the caller
    may see. ``after``: a keyset cursor, the id of the last task of the previous page (its
    ``next_after``): the page starts with the next older task that matches, found through the
    primary key however deep it is; ``offset`` then counts from there. ``total`` counts every
    match, cursor or not; ``next_after`` is None on the last page."""
    query = select(Task)
    if visible is not None:
        query = query.where(visible)
    if statuses:
        query = query.where(Task.status.in_(statuses))
    if priority:
        query = query.where(Task.priority == priority)
    if owner:
        query = query.where(Task.owner == owner)
    if team:
        query = query.where(Task.team == team)
    page = query if after is None else query.where(Task.id < after)
    with db.read() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(page.order_by(Task.id.desc()).limit(limit + 1).offset(offset)).all()
        rows, more = rows[:limit], len(rows) > limit  # one row more says whether a next page exists
        attempts = current_attempts(session, rows)
        items = [task_view(t, attempts.get(t.id)) for t in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset, "after": after,
            "next_after": rows[-1].id if more else None}


def get(db: Database, task_id: int) -> dict[str, Any]:
    with db.read() as session:
        task = get_task(session, task_id)
        view = task_view(task, current_attempt(session, task))
        view["attempt_history"] = [
            {"number": a.number, "submission_id": a.submission_id, "status": a.status,
             "placement": a.placement, "message": a.message, "exit_code": a.exit_code,
             "termination": a.termination,
             "created_at": a.created_at, "started_at": a.started_at, "ended_at": a.ended_at}
            for a in session.scalars(
                select(Attempt).where(Attempt.task_id == task_id).order_by(Attempt.number)
            )
        ]
        return view


def events(db: Database, task_id: int) -> list[dict[str, Any]]:
    with db.read() as session:
        get_task(session, task_id)
        rows = session.scalars(select(Event).where(Event.task_id == task_id).order_by(Event.id))
        return [
            {"id": e.id, "ts": e.ts, "attempt": e.attempt, "from": e.from_status,
             "to": e.to_status, "reason": e.reason, "actor": e.actor}
            for e in rows
        ]


def cancel(db: Database, task_id: int, *, actor: str = "anonymous",
           audit: RequestAudit | None = None) -> dict[str, Any]:
    """Queued tasks are cancelled at once; running ones go CANCELLING and the loop stops them."""
    with db.write() as session:
        task = get_task(session, task_id)
        status = TaskStatus(task.status)
        if status is S.CANCELLING:
            return task_view(task, current_attempt(session, task))
        if status.is_terminal():
            raise InvalidTransition(f"task {task_id} already ended {status.value}; nothing to cancel")
        dst = S.CANCELLED if status in (S.QUEUED, S.LOST) else S.CANCELLING
        if not transition(session, task_id, status, dst, reason=f"cancelled by {actor}",
                          actor=actor, attempt=task.attempts or None):
            raise Conflict(f"task {task_id} changed while cancelling; try again")
        if audit is not None:
            audit.record(session, target=f"task/{task_id}", to=dst.value)
        session.refresh(task)
        return task_view(task, current_attempt(session, task))


PathCheck = Callable[[CustomTask | VerlTask, str | None, str | None], list[SpecIssue]]


def resubmit(
    db: Database, settings: Settings, task_id: int, *, actor: str = "anonymous", fresh: bool = False,
    audit: RequestAudit | None = None, paths: PathCheck | None = None,
) -> dict[str, Any]:
    """Queue an ended task again as a new task that resumes from its checkpoints (unless fresh).

    ``paths`` (:meth:`Preparer.path_issues`) checks the spec's paths again as they resolve now,
    before the write transaction (the shared filesystem is never touched under the lock); a
    refused path is a 422 naming the field. Then one write transaction: the checks (ended, no
    other task resumes from the same checkpoints) and the insert, so two concurrent resubmits
    cannot both resume from one directory."""
    if paths is not None:
        with db.read() as session:
            old = get_task(session, task_id)
            spec_data, owner, team = old.spec, old.owner, old.team
        refused = paths(load_spec_data(spec_data, source=f"task {task_id}"), owner, team)
        if refused:
            raise InvalidSpec(f"task {task_id}: checked again at resubmit: " + "; ".join(
                f"{i.path}: {i.message}" for i in refused),
                details=[{"path": i.path, "message": i.message} for i in refused])
    with db.write() as session:
        old = get_task(session, task_id)
        if not TaskStatus(old.status).is_terminal():
            raise InvalidTransition(
                f"task {task_id} is {old.status}; only an ended task can be resubmitted "
                "(cancel it first)"
            )
        sharing = session.scalar(
            select(Task.id).where(
                Task.checkpoint_dir == old.checkpoint_dir,
                Task.status.not_in([s.value for s in (S.SUCCEEDED, S.FAILED, S.CANCELLED)]),
            )
        )
        if sharing is not None and not fresh:
            raise Conflict(f"task {sharing} already resumes from {old.checkpoint_dir}; wait for it or use --fresh")
        spec = load_spec_data(old.spec, source=f"task {task_id}")
        return _add_task(session, settings, spec, old.spec_text, owner=old.owner or actor, team=old.team,
                         idempotency_key=None, checkpoint_dir=None if fresh else old.checkpoint_dir,
                         resubmit_of=task_id, audit=audit, cpus_per_node=old.cpus_per_node)

