"""Queue waits from the event table: every QUEUED → … → RUNNING stretch, observed once.

The follower reads events past the last one it saw (the primary key is the cursor), so it
works whether the scheduler loop runs in this process or in its own (``argus scheduler``):
whatever moved a task to RUNNING wrote an event row. It starts at the newest event when the
server starts (a histogram starts at zero with its process, as Prometheus expects).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import func, select

from argus.db.engine import Database
from argus.db.models import Event, Task
from argus.states import TERMINAL, TaskStatus

BATCH = 20_000  # events read per scrape at most; the rest on the next one
FOLLOWED = [TaskStatus.QUEUED.value, TaskStatus.RUNNING.value, *(s.value for s in TERMINAL)]
Observe = Callable[[str, float], None]  # (priority, seconds waited)


class WaitFollower:
    def __init__(self, db: Database, batch: int = BATCH):
        self.db = db
        self.batch = batch
        self._lock = threading.Lock()
        self._queued_at: dict[int, float] = {}
        with db.read() as session:
            self.cursor = session.scalar(select(func.max(Event.id))) or 0

    def advance(self, observe: Observe) -> int:
        """Observe the waits of the tasks that started running since the last call; returns how
        many were observed."""
        with self._lock, self.db.read() as session:
            rows = session.execute(
                select(Event.id, Event.task_id, Event.ts, Event.to_status, Task.priority)
                .join(Task, Task.id == Event.task_id)
                .where(Event.id > self.cursor,
                       Event.to_status.in_(FOLLOWED))
                .order_by(Event.id).limit(self.batch)
            ).all()
            seen = 0
            for event_id, task_id, ts, status, priority in rows:
                if status == TaskStatus.QUEUED.value:
                    self._queued_at[task_id] = ts
                    continue
                if status != TaskStatus.RUNNING.value:  # ended without running: forget it
                    self._queued_at.pop(task_id, None)
                    continue
                since = self._queued_at.pop(task_id, None)
                if since is None:  # queued before this server started: ask the table once
                    since = session.scalar(select(func.max(Event.ts)).where(
                        Event.task_id == task_id, Event.id < event_id,
                        Event.to_status == TaskStatus.QUEUED.value))
                if since is not None:
                    observe(priority, max(0.0, ts - since))
                    seen += 1
            if rows:
                self.cursor = rows[-1][0]
            return seen
