"""Metrics with several API worker processes on one port (``argus server --api-workers N``).

The supervisor gives every worker ``PROMETHEUS_MULTIPROC_DIR`` (one fresh, empty directory for
them all) and ``ARGUS_API_WORKER_INDEX`` (0..N-1). prometheus_client then keeps each process's
histograms in a file of that directory (it picks its value class when it is imported, so the
variable must be in the environment the worker starts with), and a scrape of any worker sums
every file: the counts never jump between processes, and a dead worker's counts stay in the sum.

What is not a sum is kept out of the files: the gauges read from the DB are computed by whichever
worker is scraped; worker 0 alone follows the queue waits; the scheduler embedded in worker 0
publishes its last tick here so that every worker reports it (``scheduler_state``).
Without the variable (one worker, the default) nothing here is used.
"""

from __future__ import annotations

import contextlib
import glob
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import Gauge, values
from prometheus_client.core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
INDEX_ENV = "ARGUS_API_WORKER_INDEX"
# Published by the worker that embeds the scheduler, read back by every worker, never exported:
# 0 while its loop has not ticked yet, then the Unix time of its last tick. Mode 'max': a dead
# worker's last tick stays readable (and goes stale, so argus_scheduler_up turns 0), a new
# worker 0's newer ticks win.
PUBLISHED_TICK = "argus_scheduler_published_last_tick"
INTERNAL = frozenset({PUBLISHED_TICK})


@dataclass(frozen=True)
class Worker:
    """This process's place among the API workers; ``shared`` is None with one worker."""

    shared: Path | None = None
    index: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Worker:
        path = environ.get(MULTIPROC_ENV)
        if not path:
            return cls()
        if not getattr(values.ValueClass, "_multiprocess", False):
            raise RuntimeError(f"{MULTIPROC_ENV} is set, but prometheus_client was imported before it "
                               "was: set it in the environment the worker process starts with")
        raw = environ.get(INDEX_ENV, "0")
        try:
            index = int(raw)
        except ValueError:
            raise ValueError(f"{INDEX_ENV}={raw!r} is not a worker index (0, 1, …)") from None
        return cls(Path(path), index)

    @property
    def follows_waits(self) -> bool:
        """One process observes argus_task_wait_seconds: else each start is counted N times."""
        return self.index == 0


class SharedCollector(Collector):
    """Every worker's histograms and gauges, merged from the files (MultiProcessCollector's
    merge), less the internal ones."""

    def __init__(self, path: Path):
        self.path = path

    def collect(self) -> Iterator[Metric]:
        for metric in MultiProcessCollector.merge(glob.glob(str(self.path / "*.db"))):
            if metric.name not in INTERNAL:
                yield metric


class TickPublisher:
    """The embedded scheduler's last tick, written where every worker reads it."""

    def __init__(self) -> None:
        self.gauge = Gauge(PUBLISHED_TICK, "Last tick of the scheduler embedded in an API worker",
                           multiprocess_mode="max", registry=None)
        self.gauge.set(0)  # a scheduler is embedded; it has not ticked yet

    def publish(self, last_tick: float | None) -> None:
        if last_tick is not None:
            self.gauge.set(last_tick)


def published_last_tick(path: Path) -> float | None:
    """None: no worker embeds a scheduler; 0.0: one does and has not ticked yet."""
    for metric in MultiProcessCollector.merge(glob.glob(str(path / "gauge_max_*.db"))):
        if metric.name == PUBLISHED_TICK and metric.samples:
            return max(s.value for s in metric.samples)
    return None


def scheduler_state(path: Path, max_age: float, now: float | None = None) -> dict:
    """The embedded scheduler's state as every worker reports it (the shape of the scheduler's
    own ``{"healthy", "last_tick"}``); empty when no worker embeds one."""
    last = published_last_tick(path)
    if last is None:
        return {}
    now = time.time() if now is None else now
    tick = last or None
    return {"healthy": tick is not None and now - tick < max_age, "last_tick": tick}


def worker_gauge() -> Gauge:
    """``argus_api_workers``: 1 per live worker, summed; a worker's share leaves with
    ``process_exited``."""
    gauge = Gauge("argus_api_workers", "API worker processes serving this port",
                  multiprocess_mode="livesum", registry=None)
    gauge.set(1)
    return gauge


def process_exited(pid: int, path: Path | str | None = None) -> None:
    """Forget a worker's live gauges (its counts stay in the sums). Call it for every worker
    that exits; a no-op without a shared directory."""
    path = path or os.environ.get(MULTIPROC_ENV)
    if path:
        with contextlib.suppress(FileNotFoundError):
            mark_process_dead(pid, str(path))
