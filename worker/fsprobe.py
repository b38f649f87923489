"""A small timed write / fsync / read / stat on the shared root: GPFS trouble shows here first.

The probe runs in its own thread every ``period`` seconds (never inside a scrape: a hung
filesystem must not hang ``/metrics``). While an operation is still running, ``seconds()``
reports how long it has been running, so a stuck mount shows as a growing value, not a stale one.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

OPS = ("write", "fsync", "read", "stat")
PAYLOAD = b"argus shared-fs probe\n" * 186  # ~4 KiB


class FsProbe:
    def __init__(self, root: Path, period: float = 15.0, name: str | None = None):
        self.dir = Path(root) / "cluster" / "probes"
        self.path = self.dir / f"{name or socket.gethostname()}-{os.getpid()}.probe"
        self.period = period
        self.last: dict[str, float] = {}
        self.errors: dict[str, int] = dict.fromkeys(OPS, 0)
        self.completed_at: float | None = None
        self._current: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def seconds(self, now: float | None = None) -> dict[str, float]:
        """Per op: the last duration, or the running time of the op in flight if longer."""
        with self._lock:
            values = dict(self.last)
            if self._current is not None:
                op, started = self._current
                values[op] = max(values.get(op, 0.0), (now or time.monotonic()) - started)
        return values

    def _timed(self, op: str, fn) -> object:  # noqa: ANN001
        with self._lock:
            self._current = (op, time.monotonic())
        try:
            return fn()
        finally:
            with self._lock:
                self.last[op] = time.monotonic() - self._current[1]
                self._current = None

    def once(self) -> bool:
        """One round; True when every op succeeded."""
        op = "write"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                self._timed("write", lambda: os.write(fd, PAYLOAD))
                op = "fsync"
                self._timed("fsync", lambda: os.fsync(fd))
            finally:
                os.close(fd)
            op = "read"
            data = self._timed("read", self.path.read_bytes)
            if data != PAYLOAD:
                raise OSError(f"read back {len(data)} bytes that differ from what was written")
            op = "stat"
            self._timed("stat", lambda: os.stat(self.path))
        except OSError as exc:
            self.errors[op] += 1
            log.warning("shared-fs probe: %s on %s failed: %s", op, self.path, exc)
            return False
        self.completed_at = time.time()
        return True

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.once()
            stop.wait(self.period)
        try:
            self.path.unlink()
        except OSError:
            pass

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name="argus-fs-probe", daemon=True)
        thread.start()
        return thread
