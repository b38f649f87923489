"""``argus worker start``: run the worker agent in the foreground."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from argus import logsetup
from argus.nodepool import detect_node_ip, health_problem, stop_on_signals
from argus.settings import load_settings
from worker.agent import WorkerAgent, WorkerConfig
from worker.resources import nvml_inventory, resolve


@click.group("worker")
def worker_group() -> None:
    """The worker agent: finds the head through the shared root, joins, rejoins."""


@worker_group.command("start")
@click.option("--shared-root", type=click.Path(path_type=Path), envvar="ARGUS_SHARED_ROOT", required=True,
              help="Shared filesystem root holding cluster/head.json (env ARGUS_SHARED_ROOT).")
@click.option("--num-gpus", type=int, default=None, help="Logical GPUs to declare (default: NVML).")
@click.option("--gpu-model", default=None, help="GPU model to declare, e.g. H100 (default: NVML).")
@click.option("--num-cpus", type=int, default=None, help="CPUs to declare (default: all).")
@click.option("--node-ip", default=None, help="Address to advertise (default: setting or detected).")
@click.option("--state-dir", type=click.Path(path_type=Path), default=None,
              help="Local folder for the status file, quarantine flag and raylet log.")
def start_cmd(shared_root: Path, num_gpus: int | None, gpu_model: str | None, num_cpus: int | None,
              node_ip: str | None, state_dir: Path | None) -> None:
    """Join the head published in SHARED_ROOT/cluster/head.json and follow it."""
    settings = load_settings()
    logsetup.setup(settings.log_level, settings.log_format)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe is noise
    gpus = num_gpus if num_gpus is not None else settings.worker_num_gpus
    model = gpu_model if gpu_model is not None else settings.worker_gpu_model
    inventory = nvml_inventory() if gpus is None else None
    resources = resolve(num_cpus=num_cpus if num_cpus is not None else settings.worker_num_cpus,
                        num_gpus=gpus, gpu_model=model, worker_resource=settings.worker_resource,
                        inventory=inventory)
    state = (state_dir or settings.state_dir / "worker").resolve()
    config = WorkerConfig(shared_root=shared_root.resolve(), state_dir=state, resources=resources,
                          temp_dir=settings.ray_temp_dir, node_ip=node_ip or settings.node_ip or detect_node_ip(),
                          auth=settings.ray_auth, poll_seconds=settings.worker_poll_seconds)
    click.echo(f"worker agent: shared root {config.shared_root}, {resources.num_cpus} CPUs, "
               f"{resources.num_gpus} GPUs {resources.gpu_model}, status {state / 'worker-status.json'}")
    stop = stop_on_signals()
    WorkerAgent(config).run(stop)


@worker_group.command("health")
@click.option("--state-dir", type=click.Path(path_type=Path), required=True)
def health_cmd(state_dir: Path) -> None:
    """Exit 0 when the agent reports itself healthy (for container health checks)."""
    problem = health_problem(state_dir / "worker-status.json", lambda s: s.get("child_pid") is not None)
    if problem:
        raise click.ClickException(problem)
    click.echo("ok")
