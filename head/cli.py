"""``argus head start``: run the head agent in the foreground."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from argus import logsetup
from argus.nodepool import detect_node_ip, health_problem, stop_on_signals
from argus.settings import load_settings
from head.agent import HeadAgent, HeadConfig


@click.group("head")
def head_group() -> None:
    """The head agent: runs the Ray head and publishes it on the shared root."""


@head_group.command("start")
@click.option("--shared-root", type=click.Path(path_type=Path), envvar="ARGUS_SHARED_ROOT", required=True,
              help="Shared filesystem root; the record goes to SHARED_ROOT/cluster/head.json.")
@click.option("--node-ip", default=None, help="Address to advertise (default: setting or detected).")
@click.option("--state-dir", type=click.Path(path_type=Path), default=None,
              help="Local folder for the head's log and status file.")
def start_cmd(shared_root: Path, node_ip: str | None, state_dir: Path | None) -> None:
    """Start a Ray head, publish it, keep the lease while it is healthy."""
    settings = load_settings()
    logsetup.setup(settings.log_level, settings.log_format)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe is noise
    ip = node_ip or settings.node_ip or detect_node_ip()
    config = HeadConfig(shared_root=shared_root.resolve(),
                        state_dir=(state_dir or settings.state_dir / "head").resolve(), node_ip=ip,
                        dashboard_host=settings.dashboard_host or ip, gcs_port=settings.ray_gcs_port,
                        dashboard_port=settings.ray_dashboard_port, temp_dir=settings.ray_temp_dir,
                        auth=settings.ray_auth, lease_seconds=settings.head_lease_seconds,
                        renew_seconds=settings.head_renew_seconds)
    stop = stop_on_signals()
    sys.exit(HeadAgent(config).run(stop))


@head_group.command("health")
@click.option("--state-dir", type=click.Path(path_type=Path), required=True)
def health_cmd(state_dir: Path) -> None:
    """Exit 0 when the agent reports itself healthy (for container health checks)."""
    problem = health_problem(state_dir / "head-status.json", lambda s: s.get("state") == "published")
    if problem:
        raise click.ClickException(problem)
    click.echo("ok")
