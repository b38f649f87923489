"""``argus server --api-workers N`` (issue 11, the submit path): N real worker processes on one
port under a supervisor; SQLite writes of every process queue on one lock file.

Real processes, a real SQLite file, real HTTP on loopback. What is checked: both workers serve
(each leaves request metrics of its own pid), every accepted submit is in the database and the
audit chain holds across processes; a killed worker is replaced while the port keeps answering;
SIGTERM stops everything and removes the metrics directory; a SIGKILLed supervisor's workers stop
by themselves; a taken port fails at once with a clear message; the wake pipe and the
cross-process write queue, each on its own.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import text

from api.supervisor import WorkerLinks, _poke
from argus.db.engine import Database
from argus.raynode import free_port
from argus.services.audit import verify
from tests.api.conftest import build_world
from tests.conftest import REPO, until


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _workers_up(url: str, count: int) -> bool:
    try:
        text = httpx.get(f"{url}/metrics", timeout=5).text
    except httpx.HTTPError:
        return False
    return f"argus_api_workers {count}.0" in text


@pytest.fixture
def supervised(tmp_path):  # noqa: ANN201
    settings, db, tokens = build_world(tmp_path)
    db.dispose()
    started: list[subprocess.Popen] = []

    def start(workers: int, *extra: str, port: int | None = None,
              **more_env: str) -> tuple[subprocess.Popen, str]:
        port = port or free_port()
        env = {**os.environ, "ARGUS_STATE_DIR": str(settings.state_dir),
               "ARGUS_SHARED_ROOT": str(settings.shared_root), "ARGUS_LOG_LEVEL": "ERROR",
               "ARGUS_RAY_ADDRESS": "http://127.0.0.1:9", **more_env}
        proc = subprocess.Popen([sys.executable, "-m", "api", "server", "--port", str(port),
                                 "--api-workers", str(workers), *extra], cwd=REPO, env=env,
                                start_new_session=True, stderr=subprocess.PIPE, text=True)
        started.append(proc)
        return proc, f"http://127.0.0.1:{port}"

    yield SimpleNamespace(settings=settings, tokens=tokens, start=start)
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for child in _children(proc.pid):  # only ours: children of the supervisor we started
            os.kill(child, signal.SIGKILL)


def test_two_workers_serve_one_port_and_every_accepted_submit_is_durable(supervised):
    proc, url = supervised.start(2, "--no-scheduler")
    until(lambda: _workers_up(url, 2), 60, "two API workers up")
    alice = {"Authorization": f"Bearer {supervised.tokens['alice']}"}
    code = str(supervised.settings.shared_root / "users/alice/code")

    def submit_many(n: int) -> list[int]:
        with httpx.Client(base_url=url, headers=alice, timeout=30) as http:  # its own connection
            return [http.post("/v1/tasks", json={"kind": "custom", "name": f"w{i}", "code": code,
                                                 "command": ["python", "t.py"]}).status_code
                    for i in range(n)]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        codes = [c for batch in pool.map(submit_many, [15] * 16) for c in batch]
    assert codes == [201] * 240

    metrics_dir = supervised.settings.state_dir / "run" / f"metrics-{proc.pid}"
    serving = {f.stem.rsplit("_", 1)[1] for f in metrics_dir.glob("histogram_*.db")}
    assert len(serving) == 2, f"requests served by {serving}: both workers should serve"

    db = Database(supervised.settings.database_url)
    try:
        with db.read() as s:
            assert s.execute(text("SELECT count(*) FROM tasks")).scalar() == 240
        verdict = verify(db)
        assert verdict["ok"], verdict
    finally:
        db.dispose()

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    assert not _children(proc.pid)
    assert not metrics_dir.exists()


def test_a_submit_on_any_worker_wakes_the_loop_in_worker_zero(supervised):
    """The loop ticks every 60 s here; each submit (a new connection each: the kernel picks the
    worker) must be looked at within 2 s — its wait reason set by a tick that the submit woke.
    12 submits all landing on worker 0 by chance: 1 in 4,096."""
    proc, url = supervised.start(2, ARGUS_TICK_SECONDS="60")
    until(lambda: _workers_up(url, 2), 60, "two API workers up")
    time.sleep(1)  # the loop's first tick (at start) is behind us
    alice = {"Authorization": f"Bearer {supervised.tokens['alice']}"}
    code = str(supervised.settings.shared_root / "users/alice/code")
    for i in range(12):
        with httpx.Client(base_url=url, headers=alice, timeout=30) as http:
            task = http.post("/v1/tasks", json={"kind": "custom", "name": f"wake{i}", "code": code,
                                                "command": ["python", "t.py"]}).json()
            until(lambda: http.get(f"/v1/tasks/{task['id']}").json()["reason"] != "queued", 2,
                   f"submit {i} woke the loop (its wait reason set by a tick)")


def test_a_killed_worker_is_replaced_and_the_port_keeps_answering(supervised):
    proc, url = supervised.start(2)
    until(lambda: _workers_up(url, 2), 60, "two API workers up")
    first = _children(proc.pid)
    assert len(first) == 2
    victim = max(first)
    os.kill(victim, signal.SIGKILL)
    answers = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # every request in the meantime is answered
        answers.append(httpx.get(f"{url}/healthz", timeout=5).status_code)
        now = _children(proc.pid)
        if len(now) == 2 and victim not in now:
            break
        time.sleep(0.1)
    now = _children(proc.pid)
    assert len(now) == 2 and victim not in now, now
    assert set(answers) == {200}
    until(lambda: _workers_up(url, 2), 30, "the replacement counted as a live worker")


def test_workers_stop_when_their_supervisor_is_killed(supervised):
    proc, url = supervised.start(2, "--no-scheduler")
    until(lambda: _workers_up(url, 2), 60, "two API workers up")
    workers = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    until(lambda: not any(Path(f"/proc/{pid}").exists() and "Z" not in _state(pid) for pid in workers),
           20, f"workers {workers} gone after their supervisor was killed")


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_a_taken_port_fails_at_once_with_a_clear_message(supervised):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        proc, _ = supervised.start(2, "--no-scheduler", port=taken.getsockname()[1])
        assert proc.wait(60) == 2
        err = proc.stderr.read()
        assert "cannot bind" in err and "choose another --port" in err, err
        assert not _children(proc.pid)
    finally:
        taken.close()


def test_a_wake_on_any_worker_reaches_worker_zeros_loop():
    read, write = os.pipe()
    os.set_blocking(write, False)
    woken = threading.Event()
    try:
        WorkerLinks(0, wake_read=read).attach(SimpleNamespace(scheduler=SimpleNamespace(wake=woken.set)))
        other = SimpleNamespace(scheduler=None, wake_elsewhere=None)
        WorkerLinks(1, wake_write=write).attach(other)
        other.wake_elsewhere()
        assert woken.wait(5)
        # a full pipe (worker 0 busy or gone) never blocks a submit
        r2, w2 = os.pipe()
        os.set_blocking(w2, False)
        started = time.monotonic()
        for _ in range(70_000):
            _poke(w2)
        assert time.monotonic() - started < 5
        os.close(r2)
        os.close(w2)
    finally:
        os.close(write)  # worker 0's relay thread sees the end and returns


HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)  # the queue alone: no SQLite transaction is open
print("held", flush=True)
time.sleep(1.0)
"""


def test_writers_of_two_processes_queue_on_one_lock(tmp_path):
    url = f"sqlite:///{tmp_path / 'q.db'}"
    db = Database(url)
    try:
        with db.write() as s:
            s.execute(text("CREATE TABLE t (x INTEGER)"))
        other = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "q.db-writer.lock")], cwd=REPO, stdout=subprocess.PIPE,
                                 text=True)
        assert other.stdout.readline().strip() == "held"
        started = time.monotonic()
        with db.write() as s:  # SQLite is free: only the other process's place in the queue holds it
            waited = time.monotonic() - started
            s.execute(text("INSERT INTO t VALUES (1)"))
        assert other.wait(10) == 0
        assert waited > 0.5, f"entered after {waited:.3f} s while the other process held the lock"
        assert (tmp_path / "q.db-writer.lock").stat().st_mode & 0o777 == 0o600
    finally:
        db.dispose()


def test_pinned_workers_each_keep_to_their_own_cpu(supervised):
    allowed = sorted(os.sched_getaffinity(0))
    proc, url = supervised.start(2, "--no-scheduler", "--pin-cpus")
    until(lambda: _workers_up(url, 2), 60, "two API workers up")
    pinned = []
    for pid in _children(proc.pid):
        threads = {_cpus(task) for task in Path(f"/proc/{pid}/task").iterdir()}
        assert len(threads) == 1, f"worker {pid}: every thread on the same CPUs, got {threads}"
        pinned.append(threads.pop())
    want = {str(cpu) for cpu in allowed[:2]} if len(allowed) > 1 else {str(allowed[0])}
    assert set(pinned) == want and all("," not in c and "-" not in c for c in pinned), pinned
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200


def _cpus(task: Path) -> str:
    for line in (task / "status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no Cpus_allowed_list in {task}/status")
