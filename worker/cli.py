"""``argus worker start``: run the worker agent in the foreground."""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

import click

from argus import logsetup, noderegistry
from argus.nodepool import detect_node_ip, health_problem, stop_on_signals
from argus.settings import Settings, load_settings
from worker.agent import WorkerAgent, WorkerConfig
from worker.exporter import NodeExporter
from worker.fsprobe import FsProbe
from worker.gpustats import Nvml
from worker.resources import nvml_inventory, resolve
from worker.xid import XidWatcher, kernel_log_source, nvml_xid_events

log = logging.getLogger(__name__)


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
@click.option("--node-name", default=None, help="This node's name (default: ARGUS_NODE_NAME or the host name).")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve node metrics (GPU, Xid, CPU, memory, shared-FS probe) on this port.")
@click.option("--metrics-host", default=None, help="Address the metrics port binds (default: the node IP).")
@click.option("--xid-log", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Kernel log file to watch for Xid errors (default: the journal or /dev/kmsg where readable).")
def start_cmd(shared_root: Path, num_gpus: int | None, gpu_model: str | None, num_cpus: int | None,
              node_ip: str | None, state_dir: Path | None, node_name: str | None, metrics_port: int | None,
              metrics_host: str | None, xid_log: Path | None) -> None:
    """Join the head published in SHARED_ROOT/cluster/head.json and follow it."""
    settings = load_settings()
    name = noderegistry.check_name(node_name or settings.node_name or socket.gethostname().split(".")[0])
    logsetup.setup(settings.log_level, settings.log_format, node=name)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per probe is noise
    config = _config(settings, shared_root, num_gpus, gpu_model, num_cpus, node_ip, state_dir, name)
    config.metrics_port = metrics_port
    agent = WorkerAgent(config)
    stop = stop_on_signals()
    nvml = Nvml.open() if metrics_port is not None or xid_log is None else None
    exporter = _exporter(agent, nvml, stop, metrics_host or config.node_ip or "127.0.0.1", metrics_port)
    sources = _watch_xids(agent, exporter, nvml, xid_log, stop)
    res = config.resources
    click.echo(f"worker agent {name}: shared root {config.shared_root}, {res.num_cpus} CPUs, "
               f"{res.num_gpus} GPUs {res.gpu_model}, status {config.state_dir / 'worker-status.json'}, "
               f"Xid sources: {', '.join(sources) or 'none readable'}"
               + (f", metrics on port {config.metrics_port}" if exporter else ""))
    try:
        agent.run(stop)
    finally:
        if exporter is not None:
            exporter.close()
        if nvml is not None:
            nvml.close()


def _config(settings: Settings, shared_root: Path, num_gpus: int | None, gpu_model: str | None,
            num_cpus: int | None, node_ip: str | None, state_dir: Path | None, name: str) -> WorkerConfig:
    gpus = num_gpus if num_gpus is not None else settings.worker_num_gpus
    model = gpu_model if gpu_model is not None else settings.worker_gpu_model
    inventory = nvml_inventory() if gpus is None else None
    resources = resolve(num_cpus=num_cpus if num_cpus is not None else settings.worker_num_cpus,
                        num_gpus=gpus, gpu_model=model, worker_resource=settings.worker_resource,
                        inventory=inventory)
    resources.custom[noderegistry.node_resource(name)] = 1.0
    state = (state_dir or settings.state_dir / "worker").resolve()
    return WorkerConfig(shared_root=shared_root.resolve(), state_dir=state, resources=resources,
                        temp_dir=settings.ray_temp_dir, node_ip=node_ip or settings.node_ip or detect_node_ip(),
                        auth=settings.ray_auth, poll_seconds=settings.worker_poll_seconds, name=name,
                        drain_seconds=settings.worker_drain_seconds, fatal_xids=frozenset(settings.xid_fatal))


def _exporter(agent: WorkerAgent, nvml: Nvml | None, stop: threading.Event, host: str,
              port: int | None) -> NodeExporter | None:
    if port is None:
        return None
    probe = FsProbe(agent.config.shared_root, name=agent.config.name)
    probe.start(stop)
    exporter = NodeExporter(agent.config.name, nvml, probe, lambda: agent.quarantine_flag.exists())
    agent.config.metrics_port = exporter.serve(host, port)
    return exporter


def _watch_xids(agent: WorkerAgent, exporter: NodeExporter | None, nvml: Nvml | None, xid_log: Path | None,
                stop: threading.Event) -> list[str]:
    def on_xid(event) -> None:  # noqa: ANN001
        if exporter is not None:
            exporter.count_xid(event)
        agent.on_xid(event)

    watcher = XidWatcher(on_xid)
    source = kernel_log_source(xid_log)
    if source is not None:
        watcher.watch_lines(source[0], source[1], stop)
    if nvml is not None:
        watcher.watch_events("nvml", lambda s: nvml_xid_events(nvml.nvml, nvml.count, s, nvml.pci_of), stop)
    return watcher.sources


@worker_group.command("health")
@click.option("--state-dir", type=click.Path(path_type=Path), required=True)
def health_cmd(state_dir: Path) -> None:
    """Exit 0 when the agent reports itself healthy (for container health checks)."""
    problem = health_problem(state_dir / "worker-status.json", lambda s: s.get("child_pid") is not None)
    if problem:
        raise click.ClickException(problem)
    click.echo("ok")
