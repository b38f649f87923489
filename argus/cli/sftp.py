"""``argus sftp``: the SFTP server alone (``argus server`` runs it too when ARGUS_SFTP_PORT is set)."""

from __future__ import annotations

import signal

import click

from argus import logsetup
from argus.db.engine import Database
from argus.db.migrate import upgrade
from argus.settings import load_settings
from argus.sftp.server import SftpServer


@click.command("sftp")
@click.option("--host", default=None, help="Bind address (env ARGUS_SFTP_HOST, else ARGUS_HOST).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port (env ARGUS_SFTP_PORT; 0: any free port, printed).")
def sftp_cmd(host: str | None, port: int | None) -> None:
    """Serve SFTP: users sign in with their Argus name and a key from `argus key add`."""
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["sftp_host"] = host
    settings = load_settings(**overrides)
    if port is None and settings.sftp_port is None:
        raise click.UsageError("give --port or set ARGUS_SFTP_PORT")
    logsetup.setup(settings.log_level, settings.log_format)
    db = Database(settings.database_url)
    upgrade(db)
    server = SftpServer(settings, db)
    if port is not None:
        server.port = port
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: server.request_stop())
    server.start()
    click.echo(f"sftp listening on {server.host}:{server.port}", err=True)
    server.serve_until_stopped()
