"""Running sha256 of uploads in progress, so the last chunk need not re-read the whole file.

Kept in memory per process, keyed by the part file; a chunk that does not continue the known
state (another server took the previous chunk, the server restarted) drops it, and the final
check then reads the part from disk. Bounded: the oldest states go first.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

MAX_STATES = 256


class RunningHashes:
    def __init__(self, limit: int = MAX_STATES):
        self.limit = limit
        self._lock = threading.Lock()
        self._states: OrderedDict[str, tuple[int, "hashlib._Hash"]] = OrderedDict()

    def add(self, key: str, offset: int, data: bytes) -> None:
        """Feed the chunk written at ``offset``; a gap or a restart (offset 0) starts over."""
        with self._lock:
            known = self._states.pop(key, None)
        if offset == 0:
            known = (0, hashlib.sha256())
        if known is None or known[0] != offset:
            return
        digest = known[1]
        digest.update(data)
        with self._lock:
            self._states[key] = (offset + len(data), digest)
            while len(self._states) > self.limit:
                self._states.popitem(last=False)

    def take(self, key: str, size: int) -> str | None:
        """The hex digest if the state covers exactly ``size`` bytes; forgets the state."""
        with self._lock:
            known = self._states.pop(key, None)
        return known[1].hexdigest() if known is not None and known[0] == size else None
