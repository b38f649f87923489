"""``argus server --api-workers N``: N API processes on one port, and this process watching them.

One Python process runs the API on one core (the GIL); past about 700 submits/s it is the
limit. With N workers each binds its own listening socket to the same address with
SO_REUSEPORT and the kernel spreads new connections among them. Worker 0 is the primary: it
embeds the scheduler loop (unless ``--no-scheduler``) and serves SFTP; the others serve HTTP.

What crosses processes, and how:
- SQLite writes queue on one lock file (argus/db/engine.py ``WriteQueue``): one writer at a time,
  woken by the kernel, group commit inside each process as before;
- a submit or cancel on any worker wakes worker 0's loop through a pipe (one byte, never
  blocking: a full pipe already holds a wake);
- metrics: every worker writes its histograms to PROMETHEUS_MULTIPROC_DIR (a fresh directory per
  supervisor) and a scrape on any worker sums them (argus/metrics/server.py);
- principals, UI sessions, quotas, the lease: in the database, as between servers.

The supervisor holds the port (a bound socket, not listening) so that a restarted worker finds
it, restarts a worker that dies (backing off; five quick deaths in a row end the server), and
on SIGTERM/SIGINT stops its workers gracefully, then returns. If the supervisor itself is
killed, its workers see the end of a pipe it held and stop.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from argus.settings import Settings

log = logging.getLogger(__name__)

INDEX_ENV = "ARGUS_API_WORKER_INDEX"
WAKE_READ_ENV = "ARGUS_WAKE_READ_FD"  # worker 0: wakes arrive here
WAKE_ENV = "ARGUS_WAKE_FD"  # other workers: write a byte here to wake worker 0's loop
LIFE_ENV = "ARGUS_LIFE_FD"  # every worker: end of file here = the supervisor is gone
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

QUICK_EXIT_S = 5.0  # a worker that dies sooner than this after starting counts as a failed start
MAX_QUICK_EXITS = 5
STOP_GRACE_S = 15.0  # after SIGTERM: the workers' own graceful shutdown (5 s) and some margin


@dataclass
class WorkerLinks:
    """A worker's ends of the supervisor's pipes, read from its environment."""

    index: int
    wake_read: int | None = None
    wake_write: int | None = None
    life: int | None = None

    @classmethod
    def from_env(cls) -> WorkerLinks:
        def fd(name: str) -> int | None:
            value = os.environ.get(name)
            return int(value) if value else None
        return cls(int(os.environ.get(INDEX_ENV, "0")), fd(WAKE_READ_ENV), fd(WAKE_ENV), fd(LIFE_ENV))

    def attach(self, ctx) -> None:  # noqa: ANN001 - api.context.AppContext
        if self.life is not None:
            _daemon("argus-supervisor-watch", _stop_when_closed, self.life)
        if ctx.scheduler is not None and self.wake_read is not None:
            _daemon("argus-wake-pipe", _relay_wakes, self.wake_read, ctx.scheduler.wake)
        elif self.wake_write is not None:
            fd = self.wake_write
            ctx.wake_elsewhere = lambda: _poke(fd)


def _daemon(name: str, target, *args) -> None:  # noqa: ANN001
    threading.Thread(target=target, args=args, name=name, daemon=True).start()


def _stop_when_closed(fd: int) -> None:
    """Block until the supervisor's end of the pipe closes (it never writes), then stop."""
    while True:
        try:
            if not os.read(fd, 64):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    log.warning("the supervisor is gone; this API worker stops")
    os.kill(os.getpid(), signal.SIGTERM)


def _relay_wakes(fd: int, wake) -> None:  # noqa: ANN001
    """Every batch of bytes on the pipe is one wake of the loop (wakes coalesce anyway)."""
    while True:
        try:
            if not os.read(fd, 4096):
                return
        except InterruptedError:
            continue
        except OSError:
            return
        wake()


def _poke(fd: int) -> None:
    try:
        os.write(fd, b"!")
    except OSError:  # full (worker 0 has wakes pending) or gone (it ticks on its own)
        pass


class _Worker:
    def __init__(self, index: int):
        self.index = index
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.quick_exits = 0
        self.restart_at: float | None = None


class Supervisor:
    def __init__(self, settings: Settings, host: str, port: int, workers: int, *, no_scheduler: bool,
                 pin_cpus: bool = False):
        self.settings = settings
        self.pin_cpus = pin_cpus
        self.host = host
        self.port = port
        self.no_scheduler = no_scheduler
        self.workers = [_Worker(i) for i in range(workers)]
        self._stop = threading.Event()
        self._failed = False

    def run(self) -> int:
        from api.cli import reuse_port_socket

        self._prepare_database()
        try:
            hold = reuse_port_socket(self.host, self.port, listen=False)  # fails here if taken
        except OSError as exc:
            log.error("argus server: cannot bind %s:%d (%s); choose another --port or stop what "
                      "holds it", self.host, self.port, exc.strerror or exc)
            return 2
        self.port = hold.getsockname()[1]
        metrics_dir = self._metrics_dir()
        os.environ[MULTIPROC_ENV] = str(metrics_dir)
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        life_read, life_write = os.pipe()
        self._fds = {"wake_read": wake_read, "wake_write": wake_write, "life": life_read}
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stop.set())
        try:
            for worker in self.workers:
                self._spawn(worker)
            log.info("argus server: %d API workers on %s:%d (pids %s)", len(self.workers), self.host,
                     self.port, " ".join(str(w.proc.pid) for w in self.workers if w.proc))
            self._watch()
        finally:
            self._stop_all()
            for fd in (wake_read, wake_write, life_read, life_write):
                os.close(fd)
            hold.close()
            shutil.rmtree(metrics_dir, ignore_errors=True)
        return 1 if self._failed else 0

    def _prepare_database(self) -> None:
        """Migrate and seed once, before any worker starts (they would race at it)."""
        from argus.db.engine import Database
        from argus.db.migrate import upgrade
        from argus.services.policy import seed_policy

        db = Database(self.settings.database_url)
        try:
            upgrade(db)
            seed_policy(db, self.settings)
        finally:
            db.dispose()

    def _metrics_dir(self) -> Path:
        """A fresh 0700 directory for this supervisor's workers' metric files; ones left by a
        supervisor that is no longer running are removed."""
        run = self.settings.state_dir / "run"
        run.mkdir(parents=True, exist_ok=True)
        for old in run.glob("metrics-*"):
            pid = old.name.removeprefix("metrics-")
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(old, ignore_errors=True)
        path = run / f"metrics-{os.getpid()}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(mode=0o700)
        return path

    def _spawn(self, worker: _Worker) -> None:
        fds = self._fds
        env = {**os.environ, INDEX_ENV: str(worker.index), LIFE_ENV: str(fds["life"])}
        env.pop(WAKE_READ_ENV, None)
        env.pop(WAKE_ENV, None)
        if worker.index == 0:
            env[WAKE_READ_ENV] = str(fds["wake_read"])
            passed = (fds["life"], fds["wake_read"])
        else:
            env[WAKE_ENV] = str(fds["wake_write"])
            passed = (fds["life"], fds["wake_write"])
        cmd = [sys.executable, "-m", "api", "server", "--host", self.host, "--port", str(self.port),
               "--worker-index", str(worker.index)]
        if self.no_scheduler:
            cmd.append("--no-scheduler")
        cmd.append("--pin-cpus" if self.pin_cpus else "--no-pin-cpus")
        worker.proc = subprocess.Popen(cmd, env=env, pass_fds=passed)
        worker.started = time.monotonic()
        worker.restart_at = None

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            now = time.monotonic()
            for worker in self.workers:
                if worker.restart_at is not None:
                    if now >= worker.restart_at:
                        self._spawn(worker)
                    continue
                code = worker.proc.poll() if worker.proc else None
                if code is None:
                    if now - worker.started > 60:
                        worker.quick_exits = 0
                    continue
                self._exited(worker.proc.pid)
                quick = now - worker.started < QUICK_EXIT_S
                worker.quick_exits = worker.quick_exits + 1 if quick else 0
                if worker.quick_exits >= MAX_QUICK_EXITS:
                    log.error("API worker %d failed to start %d times in a row (exit code %s); "
                              "the server stops", worker.index, worker.quick_exits, code)
                    self._failed = True
                    return
                delay = min(30.0, 2.0 ** worker.quick_exits) if quick else 1.0
                log.error("API worker %d (pid %d) exited with code %s; restarting it in %.0f s",
                          worker.index, worker.proc.pid, code, delay)
                worker.restart_at = now + delay

    def _exited(self, pid: int) -> None:
        """A worker's live gauges end with it (its counters and histograms stay summed)."""
        from argus.metrics.multiproc import process_exited

        process_exited(pid)

    def _stop_all(self) -> None:
        live = [w.proc for w in self.workers if w.proc is not None and w.proc.poll() is None]
        for proc in live:
            _signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in live:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("API worker pid %d did not stop in %.0f s; killing it", proc.pid, STOP_GRACE_S)
                _signal(proc, signal.SIGKILL)
                proc.wait()


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
