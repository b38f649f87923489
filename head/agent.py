"""The head agent: supervise ``ray start --head --block``, publish the head record, renew it.

Start: claim an epoch, start the head child (own process group, token auth unless disabled),
wait until the GCS port and the dashboard answer, publish ``cluster/head.json``. Then every
``renew_seconds``: if a higher epoch exists, fence (stop the child, do not touch the record);
if the child died, withdraw and exit; if the dashboard answers, renew the lease (an unhealthy
head lets its lease run out). Clean stop: withdraw the record, stop the child group.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from argus import headrecord as hr
from argus.nodepool import ensure_token, probe_dashboard, ray_env, read_token, write_status
from argus.raynode import NodeProcess, head_argv, start_node

log = logging.getLogger(__name__)

EXIT_OK, EXIT_CHILD_DIED, EXIT_FENCED, EXIT_START_FAILED = 0, 1, 3, 4


class HeadStartError(RuntimeError):
    pass


@dataclass
class HeadConfig:
    shared_root: Path
    state_dir: Path
    node_ip: str
    dashboard_host: str
    gcs_port: int = 6379
    dashboard_port: int = 8265
    temp_dir: Path = Path("/tmp/ray")
    auth: str = "token"
    lease_seconds: float = 15.0
    renew_seconds: float = 3.0
    start_timeout: float = 120.0
    num_cpus: int = 0

    @property
    def gcs_address(self) -> str:
        return f"{self.node_ip}:{self.gcs_port}"

    @property
    def dashboard_url(self) -> str:
        return f"http://{self.node_ip}:{self.dashboard_port}"


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


class HeadAgent:
    def __init__(self, config: HeadConfig):
        self.config = config
        self.child: NodeProcess | None = None
        self.record: hr.HeadRecord | None = None
        self.state = "starting"

    @property
    def token(self) -> str | None:
        return read_token(self.config.shared_root) if self.config.auth == "token" else None

    def start(self) -> hr.HeadRecord:
        cfg = self.config
        epoch = hr.allocate_epoch(cfg.shared_root, f"{socket.gethostname()}:{cfg.gcs_address}")
        if cfg.auth == "token":
            ensure_token(cfg.shared_root)
        argv = head_argv(gcs_port=cfg.gcs_port, dashboard_host=cfg.dashboard_host,
                         dashboard_port=cfg.dashboard_port, temp_dir=str(cfg.temp_dir),
                         node_ip=cfg.node_ip, num_cpus=cfg.num_cpus)
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        self._forget_previous_head()
        # under the same per-temp-dir lock as workers on this host (argus/raynode.py: start_node)
        self.child, _ = start_node(argv, env=ray_env(cfg.shared_root, cfg.auth),
                                   log_path=cfg.state_dir / "ray-head.log", temp_dir=cfg.temp_dir)
        log.info("head: epoch %s, ray head pid %s, waiting for GCS %s and dashboard %s", epoch,
                 self.child.pid, cfg.gcs_address, cfg.dashboard_url)
        session = self._wait_ready()
        now = time.time()
        self.record = hr.HeadRecord(epoch=epoch, gcs_address=cfg.gcs_address, dashboard_url=cfg.dashboard_url,
                                    session_name=session, host=socket.gethostname(), pid=self.child.pid,
                                    written_at=now, lease_expires_at=now + cfg.lease_seconds)
        if hr.highest_epoch(cfg.shared_root) > epoch:
            raise HeadStartError(f"epoch {epoch} was overtaken while starting; not publishing")
        hr.publish(cfg.shared_root, self.record)
        self.state = "published"
        self._write_status()
        log.info("head: published epoch %s session %s in %s", epoch, session, hr.record_path(cfg.shared_root))
        return self.record

    def _forget_previous_head(self) -> None:
        """Drop ``<temp dir>/ray_current_cluster`` left by the head we replace.

        ``ray start --head`` refuses to start when that file names our address and any process
        on this host still carries ``--gcs-address=<our address>`` — which a worker raylet that
        has not yet noticed the old head's death does when it shares the host (``argus up``, the
        namespace tests). The file only serves ``address="auto"`` discovery; a port really in
        use still fails at bind.
        """
        marker = Path(self.config.temp_dir) / "ray_current_cluster"
        try:
            marker.unlink()
            log.info("head: removed %s left by a previous head", marker)
        except FileNotFoundError:
            pass

    def _wait_ready(self) -> str:
        cfg = self.config
        deadline = time.monotonic() + cfg.start_timeout
        while time.monotonic() < deadline:
            if not self.child.alive():
                raise HeadStartError(f"ray start --head exited with {self.child.popen.returncode}; "
                                     f"see {self.child.log_path}")
            if _port_open(cfg.node_ip, cfg.gcs_port):
                probe = probe_dashboard(cfg.dashboard_url, self.token)
                if probe.ok and probe.session_name:
                    return probe.session_name
            time.sleep(0.5)
        raise HeadStartError(f"the Ray head did not answer within {cfg.start_timeout:.0f}s "
                             f"(GCS {cfg.gcs_address}, dashboard {cfg.dashboard_url}); see {self.child.log_path}")

    def tick(self, now: float) -> int | None:
        """One renewal pass; an exit code when the agent must stop, else None."""
        cfg, record = self.config, self.record
        if hr.highest_epoch(cfg.shared_root) > record.epoch:
            log.warning("head: a newer head (epoch > %s) exists; fencing: stopping our Ray head", record.epoch)
            self.state = "fenced"
            self._stop_child()
            return EXIT_FENCED
        if not self.child.alive():
            log.error("head: ray head exited with %s; withdrawing epoch %s (see %s)",
                      self.child.popen.returncode, record.epoch, self.child.log_path)
            self.state = "child-died"
            hr.withdraw(cfg.shared_root, record, now)
            return EXIT_CHILD_DIED
        if probe_dashboard(cfg.dashboard_url, self.token).ok:
            self.record = record.renewed(now, cfg.lease_seconds)
            hr.publish(cfg.shared_root, self.record)
        else:
            log.warning("head: dashboard %s does not answer; not renewing the lease", cfg.dashboard_url)
        return None

    def run(self, stop: threading.Event) -> int:
        try:
            self.start()
        except HeadStartError as exc:
            log.error("head: %s", exc)
            self._stop_child()
            return EXIT_START_FAILED
        code = None
        while code is None and not stop.wait(self.config.renew_seconds):
            code = self.tick(time.time())
            self._write_status()
        if code is None:  # clean stop
            hr.withdraw(self.config.shared_root, self.record, time.time())
            self.state = "withdrawn"
            code = EXIT_OK
        self._stop_child()
        self._write_status()
        return code

    def _stop_child(self) -> None:
        if self.child is not None:
            self.child.stop()

    def _write_status(self) -> None:
        rec = self.record
        write_status(self.config.state_dir / "head-status.json", {
            "state": self.state, "epoch": rec.epoch if rec else None,
            "session_name": rec.session_name if rec else None,
            "gcs_address": self.config.gcs_address, "dashboard_url": self.config.dashboard_url,
            "child_pid": self.child.pid if self.child and self.child.alive() else None,
            "lease_expires_at": rec.lease_expires_at if rec else None, "updated_at": time.time()})
