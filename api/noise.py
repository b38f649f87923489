"""Unauthenticated noise cannot grow the audit trail without bound.

Refusals of callers with no valid token (401s, unknown paths) are audited up to ``per_window``
entries per source address and window; the rest are counted, and one ``audit.suppressed``
entry per source and window records how many there were. Sources are tracked up to
``max_sources``; past that, new sources share one bucket (``*``). So per window the trail
grows by at most ``(max_sources + 1) * (per_window + 1)`` such entries, whatever the traffic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

OVERFLOW = "*"


@dataclass
class _Window:
    start: float
    written: int = 0
    suppressed: int = 0


@dataclass(frozen=True)
class Suppressed:
    """A closed window in which ``count`` refusals from ``source`` were not audited one by one."""

    source: str
    count: int
    start: float
    end: float


class NoiseGate:
    def __init__(self, per_window: int, window_s: float = 60.0, max_sources: int = 1000,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time):
        self.per_window, self.window_s, self.max_sources = per_window, window_s, max_sources
        self.clock, self.wall = clock, wall
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def admit(self, source: str) -> tuple[bool, list[Suppressed]]:
        """(audit this refusal one by one?, closed windows whose suppressed counts to record)."""
        with self._lock:
            now = self.clock()
            closed = self._close_expired(now)
            if source not in self._windows and len(self._windows) >= self.max_sources:
                source = OVERFLOW
            window = self._windows.setdefault(source, _Window(now))
            if window.written < self.per_window:
                window.written += 1
                return True, closed
            window.suppressed += 1
            return False, closed

    def _close_expired(self, now: float) -> list[Suppressed]:
        expired = [s for s, w in self._windows.items() if now - w.start >= self.window_s]
        closed = []
        for source in expired:
            window = self._windows.pop(source)
            if window.suppressed:
                end = self.wall()
                closed.append(Suppressed(source, window.suppressed,
                                         end - (now - window.start), end))
        return closed
