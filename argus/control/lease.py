"""The scheduler lease: many servers may share one database, exactly one of them schedules.

The lease is one row (``scheduler_lease``, migration 0010). A process takes it with a
compare-and-set UPDATE that matches only when the lease has expired (or is its own), and
every take adds one to ``token``, the fencing token. The holder renews it well inside its
lifetime (``ARGUS_SCHEDULER_LEASE_SECONDS``); a holder that dies stops renewing and another
process takes over once it expires.

Every write transaction of the control loop starts with :meth:`Lease.fence`: an UPDATE of the
lease row that matches only the token this process holds. A stale holder (one whose lease was
taken over, e.g. after a long pause) matches nothing and its transaction is rolled back with
:class:`LeaseLost` — in the same transaction as the claim, loan or preemption it wanted to
write. On PostgreSQL the fence's row lock also makes a takeover wait for the holder's open
transaction, so the new holder's first snapshot sees everything the old one committed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from argus.db.engine import Database
from argus.db.models import SchedulerLease

log = logging.getLogger(__name__)
ROW = 1


class LeaseLost(Exception):
    """This process no longer holds the scheduler lease: its write was refused."""


def make_holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Lease:
    def __init__(self, db: Database, ttl: float, holder: str | None = None,
                 clock: Callable[[], float] = time.time):
        self.db = db
        self.ttl = ttl
        self.holder = holder or make_holder_name()
        self.clock = clock
        self.token: int | None = None
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self.token is not None

    def hold(self) -> bool:
        """Renew the lease if held, else try to take it. True when this process holds it now."""
        return self.renew() if self.held else self.acquire()

    def acquire(self) -> bool:
        now = self.clock()
        with self.db.write() as session:
            token = session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.id == ROW,
                       or_(SchedulerLease.expires_at < now, SchedulerLease.holder == self.holder))
                .values(holder=self.holder, token=SchedulerLease.token + 1, expires_at=now + self.ttl,
                        acquired_at=now, renewed_at=now)
                .returning(SchedulerLease.token)).scalar()
        with self._lock:
            self.token = token
        if token is not None:
            log.info("scheduler lease taken by %s (fencing token %s, %.0f s)", self.holder, token, self.ttl)
        return token is not None

    def renew(self) -> bool:
        token = self.token
        if token is None:
            return False
        now = self.clock()
        with self.db.write() as session:
            matched = session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.id == ROW, SchedulerLease.token == token,
                       SchedulerLease.holder == self.holder)
                .values(expires_at=now + self.ttl, renewed_at=now)).rowcount
        if matched != 1:
            self._lost(token)
        return matched == 1

    def release(self) -> None:
        """Give the lease up at once (a clean stop), so another process need not wait for expiry."""
        token = self.token
        if token is None:
            return
        with self._lock:
            self.token = None
        with self.db.write() as session:
            session.execute(update(SchedulerLease)
                            .where(SchedulerLease.id == ROW, SchedulerLease.token == token,
                                   SchedulerLease.holder == self.holder)
                            .values(expires_at=0.0))
        log.info("scheduler lease released by %s (token %s)", self.holder, token)

    def fence(self, session: Session) -> None:
        """Refuse this transaction unless this process still holds the lease (same transaction)."""
        token = self.token
        if token is None:
            raise LeaseLost(f"{self.holder} does not hold the scheduler lease")
        matched = session.execute(
            update(SchedulerLease)
            .where(SchedulerLease.id == ROW, SchedulerLease.token == token,
                   SchedulerLease.holder == self.holder)
            .values(token=SchedulerLease.token)).rowcount
        if matched != 1:
            self._lost(token)
            raise LeaseLost(f"{self.holder}: the scheduler lease (token {token}) was taken over")

    def _lost(self, token: int) -> None:
        with self._lock:
            if self.token == token:
                self.token = None
                log.warning("scheduler lease lost by %s (token %s): standing by", self.holder, token)


class FencedDatabase:
    """The control loop's view of the database: every write transaction is fenced by the lease."""

    def __init__(self, db: Database, lease: Lease):
        self._db = db
        self.lease = lease

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        with self._db.write() as session:
            self.lease.fence(session)
            yield session

    def read(self) -> contextlib.AbstractContextManager[Session]:
        return self._db.read()

    def __getattr__(self, name: str) -> Any:  # url, is_sqlite, engines, dispose
        return getattr(self._db, name)


class Renewer:
    """Renews a held lease every third of its lifetime, so that a long tick does not lose it."""

    def __init__(self, lease: Lease):
        self.lease = lease
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="argus-lease", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.lease.ttl / 3):
            if self.lease.held:
                try:
                    self.lease.renew()
                except Exception:  # noqa: BLE001 - the DB may be briefly unavailable; the loop retries
                    log.exception("renewing the scheduler lease failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
