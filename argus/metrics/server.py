"""The server's metrics (``GET /metrics``): one registry per app, nothing at import time.

Gauges are read from the DB when Prometheus scrapes (the route runs in the thread pool, never
on the event loop); the queue-wait histogram follows the event table (argus/metrics/waits.py);
the tick and request histograms are observed where the work happens. Names and labels:
docs/observability.md.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from argus.cluster import ClusterProvider
from argus.control.loop import healthy_within
from argus.db.engine import Database
from argus.db.models import Attempt, Preemption, SchedulerLease, Task
from argus.errors import RayError
from argus.metrics import multiproc
from argus.metrics.multiproc import SharedCollector, TickPublisher, Worker, process_exited, worker_gauge
from argus.metrics.waits import WaitFollower
from argus.services import audit
from argus.services.policy import PolicySource
from argus.services.nodes import NO_AGENT, NO_RAYLET, node_rows
from argus.services.quota import quota_view
from argus.settings import Settings
from argus.states import ACTIVE, TaskStatus

log = logging.getLogger(__name__)

WAIT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 24 * 3600)
TICK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
QUOTA_KINDS = ("nominal", "lent", "borrowed", "in_use")
NODE_STATES = ("ready", "joining", "draining", "quarantined", "down")
FOLLOW_SECONDS = 1.0  # among several workers, worker 0 follows waits and publishes its tick this often


@dataclass
class Cached:
    """A value refreshed at most every ``ttl`` seconds (Ray's node list, the audit verdict)."""

    ttl: float
    fetch: Callable[[], object]
    value: object = None
    at: float = float("-inf")

    def get(self, now: float) -> object:
        if now - self.at >= self.ttl:
            self.value, self.at = self.fetch(), now
        return self.value


class ServerMetrics:
    """The registry behind ``/metrics`` and the histograms the server observes into.

    With several API workers (argus/metrics/multiproc.py) the histograms live in the shared
    files and reach the scrape summed over every worker, and worker 0 follows the queue waits
    and publishes its scheduler's tick in the background (``start``/``stop``, from the app's
    lifespan); with one, the waits are followed when Prometheus scrapes.
    """

    def __init__(self, db: Database, settings: Settings, provider: ClusterProvider,
                 scheduler_state: Callable[[], dict] | None = None, policy: PolicySource | None = None,
                 worker: Worker | None = None):
        self.worker = worker or Worker.from_env()
        shared = self.worker.shared
        self.registry = CollectorRegistry(auto_describe=False)
        own = self.registry if shared is None else None  # shared: in the files, summed at scrape
        self.task_wait = Histogram("argus_task_wait_seconds", "Time from QUEUED to RUNNING, per start",
                                   ["priority"], buckets=WAIT_BUCKETS, registry=own)
        self.tick = Histogram("argus_scheduler_tick_seconds", "Duration of one scheduler tick",
                              buckets=TICK_BUCKETS, registry=own)
        self.http = Histogram("argus_http_request_duration_seconds",
                              "API request latency (route='/v1/tasks', method='POST' is submit)",
                              ["method", "route", "status"], buckets=HTTP_BUCKETS, registry=own)
        self.waits = WaitFollower(db) if self.worker.follows_waits else None
        self.local_state = scheduler_state
        self.publisher: TickPublisher | None = None
        if shared is not None:
            self.registry.register(SharedCollector(shared))
            self.live = worker_gauge()
            self.publisher = TickPublisher() if scheduler_state is not None else None
            max_age = healthy_within(settings)
            scheduler_state = lambda: multiproc.scheduler_state(shared, max_age)  # noqa: E731
        self.state = StateCollector(db, settings, provider, scheduler_state or (lambda: {}), policy=policy)
        self.registry.register(self.state)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def render(self) -> bytes:
        """The Prometheus text; blocking (DB reads, maybe one Ray call): call it off the loop."""
        with self._lock:
            self.follow()
            return generate_latest(self.registry)

    def follow(self) -> None:
        """Observe the waits of tasks started since the last call (if this process follows
        them); publish this process's scheduler tick (if it embeds one among several workers)."""
        with self._lock:
            if self.waits is not None:
                self.waits.advance(lambda priority, seconds: self.task_wait.labels(priority).observe(seconds))
            if self.publisher is not None and self.local_state is not None:
                self.publisher.publish(self.local_state().get("last_tick"))

    def start(self) -> None:
        """Among several workers, follow on a timer: a scrape may never land on worker 0."""
        if self.worker.shared is None or (self.waits is None and self.publisher is None):
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="argus-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self.worker.shared is not None:
            process_exited(os.getpid(), self.worker.shared)  # this worker no longer counts as live

    def _run(self) -> None:
        while not self._stop.wait(FOLLOW_SECONDS):
            try:
                self.follow()
            except Exception:  # noqa: BLE001 - the next round retries; a scrape shows the state
                log.exception("metrics: following the queue waits failed")


class StateCollector(Collector):
    """Gauges computed from the DB and the cluster at scrape time."""

    def __init__(self, db: Database, settings: Settings, provider: ClusterProvider,
                 scheduler_state: Callable[[], dict], clock: Callable[[], float] = time.time,
                 policy: PolicySource | None = None):
        self.db, self.settings, self.provider = db, settings, provider
        self.policy = policy or PolicySource(settings, db)
        self.scheduler_state = scheduler_state
        self.clock = clock
        self.audit = Cached(settings.metrics_audit_verify_seconds, self._verify_audit)
        self.nodes = Cached(settings.metrics_nodes_cache_seconds, self._ray_nodes)

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        yield from self._tasks(now)
        yield self._preemptions()
        yield self._quota()
        yield from self._cluster(now)
        yield from self._scheduler()
        yield from self._lease(now)
        if self.settings.metrics_audit_verify_seconds > 0:
            ok = GaugeMetricFamily("argus_audit_chain_ok", "1 when the audit trail's hash chain "
                                   "verified at the last check (every ARGUS_METRICS_AUDIT_VERIFY_SECONDS)")
            ok.add_metric([], float(bool(self.audit.get(now))))
            yield ok

    def _tasks(self, now: float) -> Iterator[Metric]:
        tasks = GaugeMetricFamily("argus_tasks", "Tasks by status, priority and team",
                                  labels=["status", "priority", "team"])
        oldest = GaugeMetricFamily("argus_queue_oldest_wait_seconds",
                                   "Age of the longest-waiting QUEUED task", labels=["priority", "team"])
        with self.db.read() as session:
            for status, priority, team, count in session.execute(
                    select(Task.status, Task.priority, Task.team, func.count())
                    .group_by(Task.status, Task.priority, Task.team)):
                tasks.add_metric([status, priority, team or ""], count)
            for priority, team, first in session.execute(
                    select(Task.priority, Task.team, func.min(Task.queued_at))
                    .where(Task.status == TaskStatus.QUEUED.value).group_by(Task.priority, Task.team)):
                oldest.add_metric([priority, team or ""], max(0.0, now - first))
        yield tasks
        yield oldest

    def _preemptions(self) -> Metric:
        family = CounterMetricFamily("argus_preemptions", "Preemptions decided, by the victim's priority",
                                     labels=["priority"])
        with self.db.read() as session:
            for priority, count in session.execute(
                    select(Task.priority, func.count()).select_from(Preemption)
                    .join(Task, Task.id == Preemption.victim_task_id)
                    .group_by(Task.priority)):
                family.add_metric([priority], count)
        return family

    def _quota(self) -> Metric:
        family = GaugeMetricFamily("argus_quota_gpus", "Team GPU quota per flavor: nominal as configured, "
                                   "lent and borrowed through open loans, in_use by active tasks",
                                   labels=["team", "flavor", "kind"])
        with self.db.read() as session:
            used_by = {team for (team,) in session.execute(
                select(Task.team).where(Task.team.is_not(None), Task.gpus_per_node > 0).distinct())}
        policy = self.policy.current()
        for team in sorted(set(policy.teams) | used_by):
            for row in quota_view(self.db, policy, team):
                for kind in QUOTA_KINDS:
                    if row[kind] is not None:
                        family.add_metric([team, row["flavor"], kind], row[kind])
        return family

    def _cluster(self, now: float) -> Iterator[Metric]:
        ref = self.provider.current()
        nodes = self.nodes.get(now) if ref.cluster is not None else None
        reachable = GaugeMetricFamily("argus_ray_reachable", "1 when the Ray head answers (its node list)")
        reachable.add_metric([], float(nodes is not None))
        yield reachable
        if ref.epoch is not None:
            epoch = GaugeMetricFamily("argus_head_epoch", "Epoch of the head record the server follows")
            epoch.add_metric([], ref.epoch)
            yield epoch
        rows = node_rows(self.db, self.settings, nodes, now)
        states = GaugeMetricFamily("argus_nodes", "Worker nodes by state (ready, joining, draining, "
                                   "quarantined, down)", labels=["state"])
        for state, count in node_states(rows).items():
            states.add_metric([state], count)
        yield states
        yield self._placements(rows)
        zombies = GaugeMetricFamily("argus_node_zombies", "Half-dead nodes: a Ray worker without a live "
                                    "agent, or an agent whose raylet is not in Ray", labels=["kind"])
        for kind in (NO_AGENT, NO_RAYLET):
            zombies.add_metric([kind], sum(1 for r in rows if r["zombie"] == kind))
        yield zombies

    def _placements(self, rows: list[dict]) -> Metric:
        """GPUs each active task holds on each node (by node name): joins task and GPU panels."""
        names = {r["ray_node_id"]: r["name"] for r in rows if r["ray_node_id"]}
        family = GaugeMetricFamily("argus_task_node_gpus", "GPUs an active task holds on a node",
                                   labels=["task", "name", "priority", "team", "node"])
        with self.db.read() as session:
            for task_id, name, priority, team, gpus, placement in session.execute(
                    select(Task.id, Task.name, Task.priority, Task.team, Task.gpus_per_node, Attempt.placement)
                    .join(Attempt, (Attempt.task_id == Task.id) & (Attempt.number == Task.attempts))
                    .where(Task.status.in_([s.value for s in ACTIVE]))):
                for node_id in placement or ():
                    family.add_metric([str(task_id), name, priority, team or "", names.get(node_id, node_id)], gpus)
        return family

    def _scheduler(self) -> Iterable[Metric]:
        state = self.scheduler_state()
        if not state:
            return []
        up = GaugeMetricFamily("argus_scheduler_up", "1 when the embedded scheduler loop ticked recently")
        up.add_metric([], float(bool(state.get("healthy"))))
        families = [up]
        if state.get("last_tick") is not None:
            last = GaugeMetricFamily("argus_scheduler_last_tick_timestamp_seconds",
                                     "When the scheduler loop last finished a tick (Unix time)")
            last.add_metric([], state["last_tick"])
            families.append(last)
        return families

    def _lease(self, now: float) -> Iterator[Metric]:
        """The scheduler lease (any process's: embedded or `argus scheduler`), from its DB row."""
        with self.db.read() as session:
            row = session.scalar(select(SchedulerLease))
        held = GaugeMetricFamily("argus_scheduler_lease_held", "1 when a scheduler holds an unexpired lease "
                                 "(holder: process name)", labels=["holder"])
        if row is not None and row.holder:
            held.add_metric([row.holder], float(row.expires_at > now))
            token = GaugeMetricFamily("argus_scheduler_lease_token", "Fencing token: +1 at every take-over")
            token.add_metric([], row.token)
            renewed = GaugeMetricFamily("argus_scheduler_lease_renewed_timestamp_seconds",
                                        "When the holder last renewed the lease")
            renewed.add_metric([], row.renewed_at)
            yield held
            yield token
            yield renewed
        else:
            held.add_metric([""], 0.0)
            yield held

    def _ray_nodes(self) -> list | None:
        ref = self.provider.current()
        if ref.cluster is None:
            return None
        try:
            return ref.cluster.nodes()
        except RayError as exc:
            log.info("metrics: cannot list Ray nodes: %s", exc)
            return None

    def _verify_audit(self) -> bool:
        return bool(audit.verify(self.db)["ok"])


def node_states(rows: Iterable[dict]) -> dict[str, int]:
    """Counts per state; every state present (a zero is a value Prometheus can alert on)."""
    counts = dict.fromkeys(NODE_STATES, 0)
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    return counts
