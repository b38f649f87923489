"""``argus server``: the REST API with the scheduler loop embedded (one-machine set-up)."""

from __future__ import annotations

import click
import uvicorn

from api.app import create_app
from argus import logsetup
from argus.cli.serve import make_provider
from argus.settings import load_settings

GRACEFUL_SHUTDOWN_S = 5  # SIGTERM: open streams (log follows) get this long, then are closed


@click.command("server")
@click.option("--host", default=None, help="Bind address (env ARGUS_HOST, default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (env ARGUS_PORT, default 8080).")
@click.option("--no-scheduler", is_flag=True, help="Do not embed the scheduler loop.")
def server_cmd(host: str | None, port: int | None, no_scheduler: bool) -> None:
    """Run the REST API, with the scheduler loop embedded (one-machine set-up)."""
    settings = load_settings()
    logsetup.setup(settings.log_level, settings.log_format)
    app = create_app(settings, provider=make_provider(settings),
                     embed_scheduler=False if no_scheduler else None)
    # proxy_headers off: the app believes X-Forwarded-For only from ARGUS_TRUSTED_PROXIES
    uvicorn.run(app, host=host or settings.host, port=port or settings.port,
                log_level=settings.log_level.lower(), access_log=False, proxy_headers=False,
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)


