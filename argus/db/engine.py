"""Engine set-up. SQLite gets WAL, busy_timeout, synchronous=FULL and BEGIN IMMEDIATE for writes.

PostgreSQL: ``postgresql://user@host:port/db`` (ARGUS_DB_URL) is mapped to the psycopg 3
driver the project installs. Writes there run at READ COMMITTED; what needs serialising does
it itself (compare-and-set UPDATEs, ``FOR UPDATE SKIP LOCKED`` at claim, the audit chain's
advisory lock, the scheduler lease's row lock).

Two engines over one database: ``write`` transactions begin IMMEDIATE (take the write lock up
front, so read-then-write never dies with "database is locked"); ``read`` transactions begin
deferred and never block a writer under WAL.

SQLite writers of one process queue on a lock before BEGIN IMMEDIATE (``write_queue``): a
writer that finds the write lock taken otherwise sleeps in SQLite's busy handler (1, 2, 5 …
100 ms steps) and may lose to later arrivals again and again; under 32 concurrent submits that
gave a p99 of seconds. Same transactions, same synchronous=FULL; other processes (a separate
scheduler) still meet the busy handler. The lock is re-entrant: a nested write behaves as before.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

BUSY_TIMEOUT_MS = 30_000
ON_COMMIT = "argus.on_commit"  # session.info key: callbacks to run once the write commits
PRIVATE = 0o600


def make_private(path: Path) -> None:
    """The database file exists and only its owner may read it (0600). SQLite creates the
    -wal and -shm files with the database file's mode; ones left by an older version are
    narrowed here too. The file holds token hashes and the audit trail."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(side, PRIVATE)


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    path = make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        make_private(Path(path))
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def driver_url(url: str) -> str:
    """``postgresql://`` / ``postgres://`` (no driver named) → the installed psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Database:
    """Holds the engines and hands out sessions: ``with db.write() as s:`` / ``db.read()``."""

    def __init__(self, url: str, *, write_queue: bool = True):
        url = driver_url(url)
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        if self.is_sqlite:
            self.write_engine = _sqlite_engine(url, immediate=True)
            self.read_engine = _sqlite_engine(url, immediate=False)
        else:
            self.write_engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
            self.read_engine = self.write_engine
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)
        queued = self.is_sqlite and write_queue
        self._write_lock: contextlib.AbstractContextManager = (
            threading.RLock() if queued else contextlib.nullcontext())

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction; after it commits, the callbacks registered in
        ``session.info["argus.on_commit"]`` run (see :func:`argus.db.audit.on_commit`)."""
        with self._write_lock, self._write.begin() as session:
            yield session
        for callback in session.info.pop(ON_COMMIT, ()):
            callback()

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session:
            yield session

    def dispose(self) -> None:
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()
