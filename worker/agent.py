"""The worker agent loop: follow the head record, supervise exactly one raylet, rejoin.

Each pass: re-read the record (a PollingObserver wakes the loop early when it sees a change;
the timer re-read catches what it cannot, like a same-size rewrite on GPFS), probe a new head's
dashboard, ask :func:`worker.decide.decide`, act, write ``<state>/worker-status.json``.
The agent never runs ``ray stop``: it signals only its own child's process group.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import FileSystemEventHandler
from watchdog.observers.polling import PollingObserver

from argus import noderegistry
from argus.headrecord import HeadRecord, RecordFollower, cluster_dir
from argus.nodepool import probe_record, ray_env, read_token, write_status
from argus.raynode import NodePorts, NodeProcess, start_node, worker_argv
from worker.decide import Action, Decision, backoff_seconds, decide
from worker.quarantine import Quarantine, clear_flag, read_flag, write_flag
from worker.resources import NodeResources
from worker.xid import FATAL_XIDS, XidEvent

log = logging.getLogger(__name__)

STABLE_SECONDS = 60.0  # a raylet that lived this long resets the backoff


@dataclass
class WorkerConfig:
    shared_root: Path
    state_dir: Path
    resources: NodeResources
    temp_dir: Path
    node_ip: str | None = None
    auth: str = "token"
    poll_seconds: float = 1.0
    stop_timeout: float = 10.0  # agent shutdown: give the raylet time to leave cleanly
    rejoin_stop_timeout: float = 2.0  # its head is gone or replaced: do not wait long
    ports: NodePorts | None = None
    name: str = ""  # the node's name in <shared root>/cluster/nodes/ (default: host name)
    drain_seconds: float = 60.0  # after a fatal Xid the raylet stays this long, then leaves
    fatal_xids: frozenset[int] = frozenset(FATAL_XIDS)
    heartbeat_seconds: float = 5.0  # the node record is rewritten at least this often
    metrics_port: int | None = None


class _Wake(FileSystemEventHandler):
    def __init__(self, event: threading.Event):
        self.event = event

    def on_any_event(self, event) -> None:  # noqa: ANN001
        self.event.set()


@dataclass
class WorkerAgent:
    config: WorkerConfig
    follower: RecordFollower = field(init=False)
    child: NodeProcess | None = None
    joined: HeadRecord | None = None
    joined_at: float = 0.0
    failures: int = 0
    backoff_until: float = 0.0
    last_error: str = ""
    last_decision: Decision | None = None
    wake: threading.Event = field(default_factory=threading.Event)
    published_at: float = 0.0
    published: dict | None = None
    _qlock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.follower = RecordFollower(self.config.shared_root)
        self.config.name = noderegistry.check_name(self.config.name or "worker")

    def on_xid(self, event: XidEvent) -> None:
        """From an Xid source's thread: a fatal Xid quarantines this node now."""
        if event.xid not in self.config.fatal_xids:
            log.warning("worker: %s (not fatal; counted)", event.describe())
            return
        if self.quarantine(event.describe(), source="xid"):
            log.error("worker: %s: node %s quarantined; draining for %.0fs", event.describe(),
                      self.config.name, self.config.drain_seconds)
        self.wake.set()

    def quarantine(self, reason: str, *, source: str) -> bool:
        """Write the flag unless one is there already; True when this call quarantined the node."""
        with self._qlock:
            if self.quarantine_flag.exists():
                return False
            write_flag(self.quarantine_flag, reason, source=source, drain_seconds=self.config.drain_seconds,
                       now=time.time())
            return True

    def _quarantine_state(self) -> Quarantine | None:
        """The flag, after acting on a release request newer than it."""
        current = read_flag(self.quarantine_flag)
        release = noderegistry.pending_release(self.config.shared_root, self.config.name)
        if release is not None:
            if current is not None and float(release.get("at", 0)) >= current.at:
                with self._qlock:
                    clear_flag(self.quarantine_flag)
                log.warning("worker: quarantine (%s) released by %s", current.reason, release.get("by"))
                current = None
            noderegistry.clear_release(self.config.shared_root, self.config.name)
        return current

    @property
    def quarantine_flag(self) -> Path:
        return self.config.state_dir / "quarantine"

    @property
    def status_path(self) -> Path:
        return self.config.state_dir / "worker-status.json"

    def run(self, stop: threading.Event, max_seconds: float | None = None) -> None:
        """Loop until ``stop`` is set (or ``max_seconds`` pass); then stop the child group."""
        cluster_dir(self.config.shared_root).mkdir(parents=True, exist_ok=True)
        observer = PollingObserver(timeout=self.config.poll_seconds)
        observer.schedule(_Wake(self.wake), str(cluster_dir(self.config.shared_root)), recursive=False)
        observer.start()
        deadline = time.monotonic() + max_seconds if max_seconds else None
        try:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                self.step(time.time())
                self.wake.wait(self.config.poll_seconds)
                self.wake.clear()
        finally:
            observer.stop()
            observer.join(10)
            self._stop_child("agent stopping", self.config.stop_timeout)
            self._write_status()
            self._publish(read_flag(self.quarantine_flag), time.time(), force=True, stopped=True)

    def step(self, now: float) -> Decision:
        published = self.follower.poll()
        alive = self.child is not None and self.child.alive()
        self._note_child_death(alive, now)
        probed = True
        if published is not None and (self.joined is None or self.joined.identity() != published.identity()):
            if published.live(now) and not published.withdrawn:
                probe = probe_record(published, read_token(self.config.shared_root))
                probed = probe.ok
                if not probe.ok:
                    self.last_error = probe.error
        quarantine = self._quarantine_state()
        decision = decide(published, self.joined, alive, now, backoff_until=self.backoff_until,
                          quarantined=quarantine is not None, probed_ok=probed,
                          quarantine_reason=quarantine.reason if quarantine else "",
                          drain_until=quarantine.drain_until if quarantine else 0.0)
        if decision != self.last_decision:
            log.info("worker: %s (%s)", decision.action.value, decision.reason)
        self.last_decision = decision
        self._apply(decision, published, now)
        self._write_status()
        self._publish(quarantine, now)
        return decision

    def _apply(self, decision: Decision, published: HeadRecord | None, now: float) -> None:
        if decision.action is Action.LEAVE:
            self._stop_child(decision.reason, self.config.stop_timeout)
            self.joined = None
        elif decision.action in (Action.JOIN, Action.REJOIN):
            self._stop_child(decision.reason, self.config.rejoin_stop_timeout)
            if published is not None and decision.action is Action.REJOIN:
                self.failures = 0
            self._join(published, now)

    def _join(self, record: HeadRecord | None, now: float) -> None:
        assert record is not None  # decide() only joins a published record
        res, cfg = self.config.resources, self.config
        argv = worker_argv(address=record.gcs_address, num_cpus=res.num_cpus, num_gpus=res.num_gpus,
                           resources=res.custom, temp_dir=str(cfg.temp_dir), node_ip=cfg.node_ip,
                           ports=cfg.ports or NodePorts())
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        log_path = cfg.state_dir / "raylet.log"
        # One `ray start` at a time per Ray temp dir: nodes sharing one (several workers on one
        # host) would otherwise race for the same socket names (argus/raynode.py: start_lock).
        self.child, started = start_node(argv, env=ray_env(cfg.shared_root, cfg.auth), log_path=log_path,
                                         temp_dir=cfg.temp_dir)
        self.joined, self.joined_at = record, now
        if not started:
            log.warning("worker: raylet pid %s did not get going (see %s)", self.child.pid, log_path)
        log.info("worker: started raylet pid %s for epoch %s at %s", self.child.pid, record.epoch,
                 record.gcs_address)

    def _note_child_death(self, alive: bool, now: float) -> None:
        if self.child is None or alive:
            return
        code = self.child.popen.returncode
        self.failures = 0 if now - self.joined_at > STABLE_SECONDS else self.failures + 1
        delay = backoff_seconds(self.failures, base=1.0, cap=30.0, rng=random.Random())
        self.backoff_until = now + delay
        self.last_error = f"raylet pid {self.child.pid} exited with {code}; retry in {delay:.1f}s"
        log.warning("worker: %s (see %s)", self.last_error, self.child.log_path)
        self.child.stop(timeout=2)  # reap what is left of its group
        self.child = None

    def _stop_child(self, why: str, timeout: float) -> None:
        if self.child is None:
            return
        log.info("worker: stopping raylet group %s: %s", self.child.pid, why)
        self.child.stop(timeout=timeout)
        self.child = None

    def _write_status(self) -> None:
        write_status(self.status_path, {
            "joined_epoch": self.joined.epoch if self.joined else None,
            "joined_session": self.joined.session_name if self.joined else None,
            "gcs_address": self.joined.gcs_address if self.joined else None,
            "child_pid": self.child.pid if self.child and self.child.alive() else None,
            "last_action": self.last_decision.action.value if self.last_decision else None,
            "last_reason": self.last_decision.reason if self.last_decision else "",
            "last_error": self.last_error or self.follower.last_error,
            "quarantined": self.quarantine_flag.exists(),
            "resources": {"num_cpus": self.config.resources.num_cpus,
                          "num_gpus": self.config.resources.num_gpus,
                          "gpu_model": self.config.resources.gpu_model,
                          "custom": self.config.resources.custom},
            "updated_at": time.time(),
        })

    def _publish(self, quarantine: Quarantine | None, now: float, *, force: bool = False,
                 stopped: bool = False) -> None:
        """The node record on the shared root: on every change, else every heartbeat period."""
        res, cfg = self.config.resources, self.config
        body = {
            "name": cfg.name, "address": cfg.node_ip or "", "agent_pid": None if stopped else os.getpid(),
            "num_gpus": res.num_gpus, "gpu_model": res.gpu_model, "num_cpus": res.num_cpus,
            "ray_resource": noderegistry.node_resource(cfg.name),
            "raylet": self.child is not None and self.child.alive(),
            "joined_epoch": self.joined.epoch if self.joined else None,
            "quarantined": quarantine is not None,
            "quarantine_reason": quarantine.reason if quarantine else "",
            "quarantined_at": quarantine.at if quarantine else None,
            "quarantine_source": quarantine.source if quarantine else "",
            "drain_until": quarantine.drain_until if quarantine else None,
            "metrics_port": cfg.metrics_port, "stopped": stopped,
        }
        if not force and body == self.published and now - self.published_at < cfg.heartbeat_seconds:
            return
        try:
            noderegistry.publish(cfg.shared_root, {**body, "heartbeat_at": now})
        except OSError as exc:
            self.last_error = f"cannot publish the node record: {exc}"
            return
        self.published, self.published_at = body, now
