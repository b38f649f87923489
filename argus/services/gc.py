"""``argus gc``: what retention allows to go, and (with ``apply``) removing it.

Under ``ARGUS_RETENTION_DAYS`` after a task ended (and unless it is pinned): its checkpoint
directory and its saved driver logs; code snapshots no live, recent or pinned task runs. Directories under the checkpoint root that no task names
(orphans, e.g. left by a deleted database) once they are that old too. Under
``ARGUS_EVENT_RETENTION_DAYS``: the status events of ended tasks are compacted to their last
one (the task row, its attempts and the audit trail stay whole: the audit chain is untouched).
Nothing outside the checkpoint root or the log directory is ever removed.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select

from argus.authz import Principal, require, require_action
from argus.db.audit import RequestAudit
from argus.db.engine import Database
from argus.db.models import Attempt, Event, Task
from argus.errors import NotFound
from argus.settings import Settings
from argus.states import TERMINAL

log = logging.getLogger(__name__)
DAY = 86400.0
MAX_ITEMS = 100_000  # one run looks at this many ended tasks at most; the rest next time


@dataclass
class Item:
    kind: str  # checkpoint | log | orphan | snapshot | events
    target: str  # a path, or task/<id> for events
    bytes: int = 0
    task_id: int | None = None
    count: int = 0  # events compacted


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve()) and path.resolve() != root.resolve()
    except OSError:
        return False


def _ended(db: Database, before: float) -> list[Task]:
    with db.read() as session:
        return list(session.scalars(select(Task).where(
            Task.status.in_([s.value for s in TERMINAL]), Task.finished_at < before).order_by(Task.id).limit(MAX_ITEMS)))


def _files(db: Database, settings: Settings, now: float) -> list[Item]:
    items: list[Item] = []
    ended = [t for t in _ended(db, now - settings.retention_days * DAY) if not t.pinned]
    root, logs = settings.checkpoint_root, settings.log_dir
    with db.read() as session:
        sids = dict.fromkeys((t.id for t in ended), ())
        for task_id, sid in session.execute(select(Attempt.task_id, Attempt.submission_id)
                                            .where(Attempt.task_id.in_(list(sids)))):
            sids[task_id] = (*sids[task_id], sid)
        live_dirs = {d for (d,) in session.execute(select(Task.checkpoint_dir).where(
            Task.status.not_in([s.value for s in TERMINAL]) | Task.pinned))}
    for task in ended:
        path = Path(task.checkpoint_dir)
        if path.exists() and inside(path, root) and task.checkpoint_dir not in live_dirs:
            items.append(Item("checkpoint", str(path), size_of(path), task.id))
        for sid in sids[task.id]:
            saved = logs / f"{sid}.log"
            if saved.exists():
                items.append(Item("log", str(saved), saved.stat().st_size, task.id))
    return items


def _orphans(db: Database, settings: Settings, now: float) -> list[Item]:
    root = settings.checkpoint_root
    if not root.is_dir():
        return []
    with db.read() as session:
        known = {str(Path(d).resolve()) for (d,) in session.execute(select(Task.checkpoint_dir))}
    cutoff = now - settings.retention_days * DAY
    items = []
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and str(entry.resolve()) not in known and entry.stat().st_mtime < cutoff:
            items.append(Item("orphan", str(entry), size_of(entry)))
    return items


def _snapshots(db: Database, settings: Settings, now: float) -> list[Item]:
    """Code snapshots (``<workspace>/.argus/snapshots/<sha256>``) no live, recent or pinned task
    runs, once they are older than the retention period."""
    cutoff = now - settings.retention_days * DAY
    found = [p for kind in ("users", "teams") for p in settings.shared_dir.glob(f"{kind}/*/.argus/snapshots/*")
             if p.is_dir() and p.stat().st_mtime < cutoff]
    if not found:
        return []
    with db.read() as session:
        codes = {str((t.spec or {}).get("code") or "") for t in session.scalars(select(Task).where(
            Task.status.not_in([s.value for s in TERMINAL]) | Task.pinned | (Task.finished_at >= cutoff)))}
    used = {c for c in codes if c}
    return [Item("snapshot", str(p), size_of(p)) for p in sorted(found)
            if not any(code == str(p) or code.startswith(f"{p}/") for code in used)]


def _events(db: Database, settings: Settings, now: float) -> list[Item]:
    ended = [t.id for t in _ended(db, now - settings.event_retention_days * DAY)]
    if not ended:
        return []
    with db.read() as session:
        rows = session.execute(select(Event.task_id, func.count()).where(Event.task_id.in_(ended))
                               .group_by(Event.task_id).having(func.count() > 1)).all()
    return [Item("events", f"task/{task_id}", 0, task_id, count - 1) for task_id, count in rows]


def compact_events(db: Database, settings: Settings, now: float | None = None) -> int:
    """Compact the events of tasks ended before the event retention (the scheduler loop does it
    hourly; ``argus gc --apply`` too). Returns how many events went."""
    items = _events(db, settings, time.time() if now is None else now)
    for item in items:
        _remove(db, item)
    return sum(i.count for i in items)


def plan(db: Database, settings: Settings, now: float | None = None) -> list[Item]:
    now = time.time() if now is None else now
    return (_files(db, settings, now) + _orphans(db, settings, now) + _snapshots(db, settings, now)
            + _events(db, settings, now))


def _remove(db: Database, item: Item) -> None:
    if item.kind == "events":
        with db.write() as session:
            last = session.scalar(select(func.max(Event.id)).where(Event.task_id == item.task_id))
            session.execute(delete(Event).where(Event.task_id == item.task_id, Event.id != last))
        return
    path = Path(item.target)
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def run(db: Database, settings: Settings, actor: Principal, *, apply: bool, now: float | None = None,
        audit: RequestAudit | None = None) -> dict[str, Any]:
    """The plan; with ``apply`` also carried out (audited). Bytes: what is (or would be) freed."""
    require_action(actor, "gc.run")
    items = plan(db, settings, now)
    failed = []
    if apply:
        for item in items:
            try:
                _remove(db, item)
            except OSError as exc:
                failed.append({"target": item.target, "error": str(exc)})
                log.warning("gc: cannot remove %s: %s", item.target, exc)
        if audit is not None:
            with db.write() as session:
                audit.record(session, target="gc", items=len(items), bytes=sum(i.bytes for i in items),
                             failed=len(failed))
    totals: dict[str, dict[str, int]] = {}
    for item in items:
        kind = totals.setdefault(item.kind, {"items": 0, "bytes": 0, "events": 0})
        kind["items"] += 1
        kind["bytes"] += item.bytes
        kind["events"] += item.count
    return {"applied": apply, "retention_days": settings.retention_days,
            "event_retention_days": settings.event_retention_days,
            "bytes": sum(i.bytes for i in items if i.target not in {f["target"] for f in failed}),
            "totals": totals, "items": [asdict(i) for i in items], "failed": failed}


def pin(db: Database, actor: Principal, task_id: int, *, pinned: bool,
        audit: RequestAudit | None = None) -> dict[str, Any]:
    """Keep (or stop keeping) a task's checkpoints and logs from ``argus gc``."""
    with db.write() as session:
        task = session.get(Task, task_id)
        if task is None:
            raise NotFound(f"task {task_id} does not exist")
        require(actor, "task.pin", owner=task.owner, team=task.team, target=f"task {task_id}")
        task.pinned = pinned
        if audit is not None:
            audit.record(session, target=f"task/{task_id}", pinned=pinned)
        return {"id": task_id, "pinned": pinned, "checkpoint_dir": task.checkpoint_dir}
