"""Xid → quarantine in the worker agent, through a real kernel-log file and the agent's own loop
step (no head published: the agent waits, so no Ray is needed to see the flag and the record)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from argus import noderegistry
from worker.agent import WorkerAgent, WorkerConfig
from worker.decide import Action, decide
from worker.resources import NodeResources
from worker.xid import XidWatcher, kernel_log_source

XID_79 = "[ 8812.301] NVRM: Xid (PCI:0000:3b:00): 79, pid=2817, name=python, GPU has fallen off the bus.\n"
XID_13 = "[ 8812.100] NVRM: Xid (PCI:0000:3b:00): 13, pid=2817, name=python, Graphics Exception\n"


def agent_for(tmp_path: Path) -> WorkerAgent:
    config = WorkerConfig(shared_root=tmp_path / "shared", state_dir=tmp_path / "w1",
                          resources=NodeResources(2, 4, "H100"), temp_dir=tmp_path / "ray", node_ip="127.0.0.1",
                          name="w1", drain_seconds=30)
    return WorkerAgent(config)


def record(root: Path) -> dict:
    (found,) = [r for r in noderegistry.read_all(root) if r["name"] == "w1"]
    return found


def test_a_fatal_xid_in_the_kernel_log_quarantines_the_node_within_seconds(tmp_path: Path) -> None:
    log = tmp_path / "kern.log"
    log.write_text("old line before the agent started\n" + XID_79)  # history is not acted on
    agent = agent_for(tmp_path)
    stop = threading.Event()
    watcher = XidWatcher(agent.on_xid)
    name, lines = kernel_log_source(log)
    watcher.watch_lines(name, lines, stop)
    try:
        time.sleep(1.0)
        agent.step(time.time())
        assert not agent.quarantine_flag.exists() and record(agent.config.shared_root)["quarantined"] is False
        with log.open("a") as handle:
            handle.write(XID_13)  # not fatal: counted, no quarantine
        time.sleep(1.5)
        assert not agent.quarantine_flag.exists()
        written = time.monotonic()
        with log.open("a") as handle:
            handle.write(XID_79)
        while not agent.quarantine_flag.exists() and time.monotonic() - written < 10:
            time.sleep(0.1)
        assert agent.quarantine_flag.exists(), "no quarantine 10 s after the Xid line"
        agent.step(time.time())
    finally:
        stop.set()
    published = record(agent.config.shared_root)
    assert published["quarantined"] and published["quarantine_source"] == "xid"
    assert published["quarantine_reason"] == "Xid 79 on GPU 0000:3b:00 (GPU has fallen off the bus)"
    assert published["drain_until"] - published["quarantined_at"] == 30
    assert published["ray_resource"] == "argus_node:w1"


def test_a_release_request_lifts_the_quarantine(tmp_path: Path) -> None:
    agent = agent_for(tmp_path)
    assert agent.quarantine("Xid 79 on GPU 0000:3b:00", source="xid")
    assert not agent.quarantine("again", source="xid")  # the first reason stays
    agent.step(time.time())
    assert record(agent.config.shared_root)["quarantine_reason"] == "Xid 79 on GPU 0000:3b:00"
    noderegistry.request_release(agent.config.shared_root, "w1", by="root")
    agent.step(time.time())
    assert not agent.quarantine_flag.exists() and record(agent.config.shared_root)["quarantined"] is False
    assert noderegistry.pending_release(agent.config.shared_root, "w1") is None


def test_an_xid_quarantine_drains_before_it_leaves_and_a_hand_made_flag_leaves_at_once() -> None:
    drain = decide(None, None, True, 100.0, quarantined=True, quarantine_reason="Xid 79", drain_until=130.0)
    assert drain.action is Action.NOOP and "draining" in drain.reason
    assert decide(None, None, True, 131.0, quarantined=True, drain_until=130.0).action is Action.LEAVE
    assert decide(None, None, True, 100.0, quarantined=True).action is Action.LEAVE


def test_a_kernel_log_that_appears_later_is_read_from_its_first_line(tmp_path: Path) -> None:
    log = tmp_path / "kern.log"  # not there when the agent starts (argus up, a fresh container)
    agent = agent_for(tmp_path)
    stop = threading.Event()
    watcher = XidWatcher(agent.on_xid)
    watcher.watch_lines(*kernel_log_source(log), stop)
    try:
        time.sleep(1.0)
        log.write_text(XID_79)
        deadline = time.monotonic() + 10
        while not agent.quarantine_flag.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
    assert agent.quarantine_flag.exists()
