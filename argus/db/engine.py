"""Engine set-up. SQLite gets WAL, busy_timeout, synchronous=FULL and BEGIN IMMEDIATE for writes.

PostgreSQL: ``postgresql://user@host:port/db`` (ARGUS_DB_URL) is mapped to the psycopg 3
driver the project installs. Writes there run at READ COMMITTED; what needs serialising does
it itself (compare-and-set UPDATEs, ``FOR UPDATE SKIP LOCKED`` at claim, the audit chain's
advisory lock, the scheduler lease's row lock).

Two engines over one database: ``write`` transactions begin IMMEDIATE (take the write lock up
front, so read-then-write never dies with "database is locked"); ``read`` transactions begin
deferred and never block a writer under WAL.

SQLite writers queue on a lock before BEGIN IMMEDIATE (``write_queue``): a writer that finds
the write lock taken otherwise sleeps in SQLite's busy handler (1, 2, 5 … 100 ms steps) and may
lose to later arrivals again and again; under 32 concurrent submits that gave a p99 of seconds.
The queue is a thread lock inside a process and an ``flock`` on ``<database>-writer.lock``
between processes (the API workers of ``argus server --api-workers N``, a separate ``argus
scheduler``): the kernel wakes the next writer the moment the lock is released. Same
transactions, same synchronous=FULL; a writer that does not queue (a migration, an older
version) still meets the busy handler. The lock is re-entrant: a nested write behaves as before.

Group commit (:meth:`Database.grouped`): writes that arrive while another is being written wait
and go together in the next transaction — one BEGIN, one COMMIT, one fsync for many submits.
Each caller still returns only once its own write has committed (durable as before), with its
own result or its own error.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from argus.errors import ArgusError

log = logging.getLogger(__name__)
T = TypeVar("T")
BUSY_TIMEOUT_MS = 30_000
GROUP_MAX = 64  # writes per group commit
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


class WriteQueue:
    """Re-entrant: a thread lock, then (outermost only) an exclusive ``flock`` on a lock file
    shared by every process writing to the same SQLite database. Without a usable lock file
    (a read-only directory) it is the thread lock alone."""

    def __init__(self, lock_path: Path | None):
        self._thread = threading.RLock()
        self._depth = 0  # changed only by the thread holding ``_thread``
        self._fd: int | None = None
        if lock_path is not None:
            try:
                self._fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE)
            except OSError as exc:
                log.warning("no cross-process write queue (%s): writers of other processes meet "
                            "SQLite's busy handler", exc)

    def __enter__(self) -> WriteQueue:
        self._thread.acquire()
        try:
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_EX)  # blocks without the GIL
        except BaseException:
            self._thread.release()
            raise
        self._depth += 1
        return self

    def __exit__(self, *_exc: object) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _lock_path(url: str) -> Path | None:
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path).with_name(Path(path).name + "-writer.lock")


def driver_url(url: str) -> str:
    """``postgresql://`` / ``postgres://`` (no driver named) → the installed psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Database:
    """Holds the engines and hands out sessions: ``with db.write() as s:`` / ``db.read()``."""

    def __init__(self, url: str, *, write_queue: bool = True, group_commit: bool = True):
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
            WriteQueue(_lock_path(url)) if queued else contextlib.nullcontext())
        self.group_commit = group_commit
        self._group: list[_Grouped[Any]] = []
        self._group_lock = threading.Lock()
        self._group_leader = threading.Lock()

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction; after it commits, the callbacks registered in
        ``session.info["argus.on_commit"]`` run (see :func:`argus.db.audit.on_commit`)."""
        with self._write_lock, self._write.begin() as session:
            yield session
        for callback in session.info.pop(ON_COMMIT, ()):
            callback()

    def grouped(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in a write transaction shared with the writes waiting beside it
        (group commit), and return its result once that transaction has committed.

        ``work`` may raise an :class:`~argus.errors.ArgusError` (a refusal) only before it has
        written anything: the others of its group go on without it. Any other exception rolls
        the group back, and then each of its writes runs again in a transaction of its own, so
        one broken write never fails another."""
        if not self.group_commit:
            with self.write() as session:
                return work(session)
        item: _Grouped[T] = _Grouped(work)
        with self._group_lock:
            self._group.append(item)
        while not item.done:
            with self._group_leader:  # one group at a time; the next gathers meanwhile
                if item.done:
                    break
                with self._group_lock:
                    batch, self._group = self._group[:GROUP_MAX], self._group[GROUP_MAX:]
                self._commit_group(batch)
        return item.outcome()

    def _commit_group(self, batch: list[_Grouped[Any]]) -> None:
        try:
            with self.write() as session:
                for item in batch:
                    try:
                        item.result = item.work(session)
                    except ArgusError as exc:  # a refusal, raised before it wrote
                        item.error = exc
        except BaseException:
            for item in batch:
                item.result, item.error = None, None
                try:
                    with self.write() as session:
                        item.result = item.work(session)
                except BaseException as exc:  # noqa: BLE001 - handed to its own caller
                    item.error = exc
        for item in batch:
            item.done = True

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session:
            yield session

    def dispose(self) -> None:
        if isinstance(self._write_lock, WriteQueue):
            self._write_lock.close()
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


class _Grouped(Generic[T]):
    """One caller's write in a group commit."""

    __slots__ = ("work", "result", "error", "done")

    def __init__(self, work: Callable[[Session], T]):
        self.work = work
        self.result: T | None = None
        self.error: BaseException | None = None
        self.done = False

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]
