"""The scheduler loop: every tick, reconcile Ray into the DB, then plan and admit.

Woken between ticks (``wake``: a new task, a cancel), it runs a tick at once; after such a tick
it looks again after ``FOLLOW_UP_S``, doubling up to the tick period, so the end of a job it has
just submitted is seen in a fraction of a second, and a long job costs a few extra looks only.
A submit on a server whose loop stands by (another process holds the lease) is seen by the
leader at its next tick, reading the database: the fallback with several servers.

It runs as its own process (``argus scheduler``) or as a thread inside the API process
(``argus server`` with ARGUS_EMBED_SCHEDULER=true). Each tick survives its own failure.
Any number of them may share one database: a tick runs only while this process holds the
scheduler lease (argus/control/lease.py); the others stand by and take over when it expires.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from argus.cluster import ClusterProvider
from argus.db.engine import Database
from argus.control.admit import Admitter
from argus.control.lease import FencedDatabase, Lease, LeaseLost, Renewer
from argus.scheduling.planner import Policy
from argus.services import gc
from argus.services.policy import PolicySource
from argus.control.reconcile import Reconciler
from argus.services.prepare import Preparer
from argus.settings import Settings

log = logging.getLogger(__name__)
COMPACT_SECONDS = 3600.0  # event retention is applied this often by the lease holder

FOLLOW_UP_S = 0.05  # the first look after a woken tick; doubles up to the tick period


class Scheduler:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        provider: ClusterProvider,
        policy: Policy | None = None,
        preparer: Preparer | None = None,
        on_tick: Callable[[float], None] | None = None,
    ):
        self.settings = settings
        self.provider = provider
        self.lease = Lease(db, settings.scheduler_lease_seconds)
        self.renewer = Renewer(self.lease)
        db = self.db = FencedDatabase(db, self.lease)  # every write of the loop checks the lease
        self.reconciler = Reconciler(db, settings.log_dir, settings.placement_timeout_s)
        if preparer is None:
            source = PolicySource(settings, db) if policy is None else PolicySource(settings, base=policy)
            preparer = Preparer(settings, source)
        self.admitter = Admitter(db, settings, preparer, policy)
        self.last_tick: float | None = None
        self.last_error: str = ""
        self.on_tick = on_tick  # gets each tick's duration (argus_scheduler_tick_seconds)
        self._compacted_at = float("-inf")
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def role(self) -> str:
        return "leader" if self.lease.held else "standby"

    def tick(self) -> None:
        started = time.perf_counter()
        if not self.lease.hold():  # another process schedules; stand by
            self.last_tick = time.time()
            return
        ref = self.provider.current()
        jobs = self.reconciler.run(ref.cluster, ref.epoch) if ref.cluster is not None else None
        self.admitter.run(ref.cluster, ref.epoch, ref.why_not, jobs)
        self._compact()
        self.last_tick = time.time()
        if self.on_tick is not None:
            self.on_tick(time.perf_counter() - started)

    def _compact(self) -> None:
        """Retention: ended tasks' old events compacted, at most every COMPACT_SECONDS."""
        if time.monotonic() - self._compacted_at < COMPACT_SECONDS:
            return
        self._compacted_at = time.monotonic()
        removed = gc.compact_events(self.db, self.settings)
        if removed:
            log.info("retention: compacted %d events of tasks ended over %g days ago", removed,
                     self.settings.event_retention_days)

    def run_forever(self) -> None:
        log.info("scheduler loop started (tick %.1fs)", self.settings.tick_seconds)
        delay = self.settings.tick_seconds
        while not self._stop.is_set():
            try:
                self.tick()
                self.last_error = ""
            except LeaseLost as exc:
                log.warning("tick abandoned: %s", exc)
            except Exception as exc:  # noqa: BLE001 - one bad tick must not end the loop
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("scheduler tick failed")
            delay = self.next_delay(delay, self._wake.wait(delay))
            self._wake.clear()
        log.info("scheduler loop stopped")

    def next_delay(self, delay: float, woken: bool) -> float:
        """After a wake, look again soon; then back off to the tick period."""
        return min(FOLLOW_UP_S if woken else delay * 2, self.settings.tick_seconds)

    def wake(self) -> None:
        """Something changed (a new task, a cancel): tick now instead of at the next period."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="argus-scheduler", daemon=True)
        self._thread.start()
        self.renewer.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self.renewer.stop()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self.lease.release()
        except Exception:  # noqa: BLE001 - it expires on its own
            log.exception("releasing the scheduler lease failed")

    def healthy(self, max_age: float | None = None) -> bool:
        limit = max_age if max_age is not None else healthy_within(self.settings)
        return self.last_tick is not None and time.time() - self.last_tick < limit


def healthy_within(settings: Settings) -> float:
    """A loop whose last tick is older than this is not healthy (/readyz, argus_scheduler_up)."""
    return max(10.0, 10 * settings.tick_seconds)
