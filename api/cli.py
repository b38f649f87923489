"""``argus server``: the REST API with the scheduler loop embedded (one-machine set-up).

With ``--api-workers N`` (ARGUS_API_WORKERS) above 1 this process only supervises
(api/supervisor.py): N worker processes, each this same command with ``--worker-index``, serve
one port. Nothing heavy is imported before that choice is made: the supervisor sets the
environment its workers import with (PROMETHEUS_MULTIPROC_DIR among it).
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import sys

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from argus.settings import Settings

GRACEFUL_SHUTDOWN_S = 5  # SIGTERM: open streams (log follows) get this long, then are closed


@click.command("server")
@click.option("--host", default=None, help="Bind address (env ARGUS_HOST, default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (env ARGUS_PORT, default 8080).")
@click.option("--no-scheduler", is_flag=True, help="Do not embed the scheduler loop.")
@click.option("--api-workers", type=click.IntRange(1, 64), default=None,
              help="API worker processes on this port (env ARGUS_API_WORKERS, default 1); the "
                   "first embeds the scheduler loop.")
@click.option("--pin-cpus/--no-pin-cpus", default=None,
              help="With --api-workers: pin worker i to the i-th CPU this server may use "
                   "(env ARGUS_API_PIN_CPUS, default off).")
@click.option("--worker-index", type=click.IntRange(0, 63), default=None, hidden=True,
              help="Set by the supervisor: run as its worker number N.")
def server_cmd(host: str | None, port: int | None, no_scheduler: bool, api_workers: int | None,
               pin_cpus: bool | None, worker_index: int | None) -> None:
    """Run the REST API, with the scheduler loop embedded (one-machine set-up)."""
    from argus import logsetup
    from argus.settings import load_settings

    settings = load_settings()
    if pin_cpus is not None:
        settings = settings.model_copy(update={"api_pin_cpus": pin_cpus})
    logsetup.setup(settings.log_level, settings.log_format)
    host, port = host or settings.host, port if port is not None else settings.port
    workers = api_workers or settings.api_workers
    if worker_index is None and workers > 1:
        from api.supervisor import Supervisor

        sys.exit(Supervisor(settings, host, port, workers, no_scheduler=no_scheduler,
                            pin_cpus=settings.api_pin_cpus).run())
    serve(settings, host, port, no_scheduler=no_scheduler, worker_index=worker_index)


def serve(settings: Settings, host: str, port: int, *, no_scheduler: bool,
          worker_index: int | None) -> None:
    """One API process: alone, or worker ``worker_index`` of a supervisor."""
    if worker_index is not None and settings.api_pin_cpus:
        pin_to_cpu(worker_index)  # first: threads started later inherit it
    import uvicorn

    from api.app import create_app
    from api.supervisor import WorkerLinks
    from argus.cli.serve import make_provider

    links = WorkerLinks.from_env() if worker_index is not None else None
    primary = worker_index in (None, 0)
    app = create_app(settings, provider=make_provider(settings),
                     embed_scheduler=False if (no_scheduler or not primary) else None, primary=primary)
    # proxy_headers off: the app believes X-Forwarded-For only from ARGUS_TRUSTED_PROXIES
    config = uvicorn.Config(app, log_level=settings.log_level.lower(), access_log=False,
                            proxy_headers=False, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
                            host=host, port=port)
    server = uvicorn.Server(config)
    settle_heap()
    if links is None:
        server.run()
    else:
        links.attach(app.state.ctx)
        server.run(sockets=[reuse_port_socket(host, port, listen=True)])
    if not server.started:
        sys.exit(3)  # as uvicorn.run: it could not start (the port is taken, …)


def pin_to_cpu(index: int) -> int:
    """Pin this process (its one thread, before any other starts) to the ``index``-th CPU it may
    use, round robin; return that CPU."""
    allowed = sorted(os.sched_getaffinity(0))
    cpu = allowed[index % len(allowed)]
    os.sched_setaffinity(0, {cpu})
    logging.getLogger(__name__).info("API worker %d pinned to CPU %d", index, cpu)
    return cpu


def settle_heap() -> None:
    """Move what start-up built (modules, the app, settings: ~170,000 objects) out of the
    garbage collector's sight. Full collections otherwise walk all of it several times a second
    under load: ~70 ms each, every request in flight stalled meanwhile (measured under wrk: 749 →
    880 submits/s, p99 118 → 86 ms; full collections 70 → 2.5 ms). Nothing is leaked: frozen
    objects are only never scanned for cycles, which start-up objects do not become."""
    gc.collect()
    gc.freeze()


def reuse_port_socket(host: str, port: int, *, listen: bool) -> socket.socket:
    """A TCP socket bound with SO_REUSEPORT: every worker listens on its own, the kernel spreads
    new connections among them (a shared socket would let one process take a burst)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(2048)
        sock.set_inheritable(False)
    except BaseException:
        sock.close()
        raise
    return sock
