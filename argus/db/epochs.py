"""The identity epoch: one number that moves whenever who-may-do-what changes.

In the database: ``counters('identity')``, moved by triggers (migration 0013) in the same
transaction as any change to users, grants or tokens that can change what a token may do —
whatever path made it. Caches of authenticated principals
(:class:`argus.services.identity.Principals`) compare the epoch they filled under with the
current one: other processes' changes are seen when a cache next reads the row; this
process's own are seen at once through :func:`local_epoch`, which moves after every commit here
that touched those tables (ORM objects or statements).
"""

from __future__ import annotations

import threading

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import ORMExecuteState, Session

from argus.db.models import ApiToken, Counter, Grant, User

IDENTITY = "identity"
_CHANGED = "argus.identity_changed"
_TYPES = (User, Grant, ApiToken)
_TABLES = frozenset(t.__tablename__ for t in _TYPES)

_lock = threading.Lock()
_local = 0


def local_epoch() -> int:
    """Moves after every commit in this process that touched users, grants or tokens."""
    return _local


def read(session: Session) -> int:
    """The committed identity epoch."""
    return session.scalar(select(Counter.value).where(Counter.name == IDENTITY)) or 0


def _touches_rights(obj: object) -> bool:
    if not isinstance(obj, ApiToken):
        return True
    state = inspect(obj)
    if state.pending or state.deleted or obj in (state.session.deleted if state.session else ()):
        return True
    changed = {a.key for a in state.attrs if a.history.has_changes()}
    return bool(changed - {"last_used_at"})  # authentication's own bookkeeping changes no rights


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, flush_context, instances) -> None:  # noqa: ANN001
    if any(isinstance(o, _TYPES) and _touches_rights(o)
           for o in (*session.new, *session.dirty, *session.deleted)):
        session.info[_CHANGED] = True


@event.listens_for(Session, "do_orm_execute")
def _statement(state: ORMExecuteState) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in _TABLES:
            state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    global _local
    if session.info.pop(_CHANGED, False):
        with _lock:
            _local += 1


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)
