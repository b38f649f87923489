"""Task logs: the saved copy once an attempt ended, else Ray's live driver log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from argus.cluster import ClusterProvider
from argus.db.engine import Database
from argus.db.models import Attempt
from argus.db.store import get_task
from argus.errors import JobNotFound, NotFound, RayError
from argus.services import secrets
from argus.settings import Settings
from argus.states import TaskStatus
from sqlalchemy import select


def _attempt(db: Database, task_id: int, number: int | None) -> tuple[Attempt | None, bool]:
    """The attempt (latest by default) and whether the task is still live."""
    with db.read() as session:
        task = get_task(session, task_id)
        number = number or task.attempts
        attempt = session.scalar(
            select(Attempt).where(Attempt.task_id == task_id, Attempt.number == number)
        ) if number else None
        if number and attempt is None:
            raise NotFound(f"task {task_id} has no attempt {number}")
        live = not TaskStatus(task.status).is_terminal() and number == task.attempts
        return attempt, live


def read(db: Database, settings: Settings, provider: ClusterProvider, task_id: int,
         attempt: int | None = None) -> str:
    """The attempt's driver log, with the values of the owner's secrets replaced."""
    text = _raw(db, settings, provider, task_id, attempt)
    if not text:
        return text
    with db.read() as session:
        owner = get_task(session, task_id).owner
        values = list(secrets.values_of(session, settings, owner).values())
    return secrets.redact_text(text, values)


def _raw(db: Database, settings: Settings, provider: ClusterProvider, task_id: int,
         attempt: int | None = None) -> str:
    found, _live = _attempt(db, task_id, attempt)
    if found is None:
        return ""
    saved = settings.log_dir / f"{found.submission_id}.log"
    if saved.exists():
        return saved.read_text(errors="replace")
    cluster = provider.current().cluster
    if cluster is None:
        return ""
    try:
        return cluster.logs(found.submission_id)
    except JobNotFound:
        return ""
    except RayError as exc:
        raise RayError(f"logs of task {task_id} are not available right now: {exc.message}") from exc


def _poll(db: Database, settings: Settings, provider: ClusterProvider, task_id: int,
          attempt: int | None) -> tuple[str, bool]:
    """(the log so far, whether the attempt may still write more): one blocking step."""
    _found, live = _attempt(db, task_id, attempt)
    try:
        return read(db, settings, provider, task_id, attempt), live
    except RayError:
        return "", live


async def follow(db: Database, settings: Settings, provider: ClusterProvider, task_id: int,
                 attempt: int | None = None, *, gone: Callable[[], Awaitable[bool]] | None = None,
                 poll_s: float = 1.0, max_s: float = 24 * 3600) -> AsyncIterator[str]:
    """Yield new log text as it appears, until the attempt ends, ``gone()`` says the client
    left, or ``max_s`` passed. A coroutine that sleeps on the event loop's timer: a quiet or
    queued task costs no thread; each poll's reads run in a worker thread."""
    sent = 0
    deadline = time.monotonic() + max_s
    while time.monotonic() < deadline:
        if gone is not None and await gone():
            return
        text, live = await asyncio.to_thread(_poll, db, settings, provider, task_id, attempt)
        if len(text) > sent:
            yield text[sent:]
            sent = len(text)
        if not live:
            return
        await asyncio.sleep(poll_s)


def snapshot(db: Database, settings: Settings, provider: ClusterProvider, task_id: int,
             attempt: int | None = None) -> tuple[int, str, bool]:
    """One look at a task's log for a follower that keeps its own pace (the web UI's async
    stream): (attempt number shown, its log so far, whether more may come). Ray errors read
    as "nothing new yet"."""
    found, live = _attempt(db, task_id, attempt)
    if found is None:
        return 0, "", live
    try:
        text = read(db, settings, provider, task_id, found.number)
    except RayError:
        text = ""
    return found.number, text, live
