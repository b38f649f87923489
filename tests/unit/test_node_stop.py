"""Stopping a Ray node stops everything it started, not only its process group
(argus/raynode.py: NodeProcess.stop). Ray puts each worker and each job driver in a process
group (a driver in a session) of its own; a driver left behind kept training beside the attempt
that replaced it."""

from __future__ import annotations

import os
import subprocess
import time

from argus.raynode import NodeProcess, _stat, descendants, kill_left


def _wait_for(pred, timeout: float = 10) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_a_detached_grandchild_is_stopped_with_its_node(tmp_path):
    marker = tmp_path / "detached.pid"
    # like ray start -> raylet -> worker -> driver: the last one in a session of its own
    script = f"setsid sh -c 'echo $$ > {marker}; exec sleep 300' & sleep 300"
    node = NodeProcess(subprocess.Popen(["sh", "-c", script], start_new_session=True), ["sh"])
    assert _wait_for(lambda: marker.exists() and marker.read_text().strip())
    detached = int(marker.read_text())
    assert os.getpgid(detached) != node.pid  # outside the node's group: killpg alone misses it
    assert detached in {pid for pid, _ in descendants(node.pid)}
    node.stop(timeout=2)
    assert _wait_for(lambda: _stat(detached) is None or _zombie(detached)), "the detached driver survived"


def test_kill_left_spares_a_reused_pid():
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        pid, start = sleeper.pid, _stat(sleeper.pid)[1]
        kill_left([(pid, start + 1)])  # another process's start time: not ours any more
        assert sleeper.poll() is None
        kill_left([(pid, start)])
        assert sleeper.wait(5) == -9
    finally:
        if sleeper.poll() is None:
            sleeper.kill()


def _zombie(pid: int) -> bool:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
