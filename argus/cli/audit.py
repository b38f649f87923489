"""``argus audit``: verify the trail's hash chain (over HTTP, or the database with --local), export it."""

from __future__ import annotations

import sys

import click

from argus.cli.common import CliState, pass_state
from argus.db.engine import Database
from argus.services import audit as audit_service
from argus.settings import load_settings


@click.group()
def audit() -> None:
    """The audit trail: verify its hash chain, export it."""


@audit.command("verify")
@click.option("--local", is_flag=True,
              help="Read the server's database directly (ARGUS_DB_URL/ARGUS_STATE_DIR), "
              "e.g. while the server is down.")
@pass_state
def audit_verify(state: CliState, local: bool) -> None:
    """Check the chain; exit 1 and name the first broken entry if it does not hold."""
    report = _verify_local() if local else state.client().audit_verify()
    if report["ok"]:
        click.echo(f"ok: {report['entries']} entries, head {report['head_hash']}")
        return
    broken = report["first_broken"]
    click.echo(f"BROKEN at entry {broken['id']} ({broken['time']}): {broken['reason']}; "
               f"{report['entries']} entries before it verify", err=True)
    sys.exit(1)


def _verify_local() -> dict:
    db = Database(load_settings().database_url)
    try:
        return audit_service.verify(db)
    finally:
        db.dispose()


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl")
@click.option("--since", help="ISO 8601 time (UTC if no zone) or epoch seconds.")
@click.option("--until")
@click.option("--user", "user_name")
@click.option("--action", help="Exact action, or a prefix ending in '.' (task.).")
@pass_state
def audit_export(state: CliState, fmt: str, since: str | None, until: str | None,
                 user_name: str | None, action: str | None) -> None:
    for chunk in state.client().audit_export(format=fmt, since=since, until=until,
                                             user=user_name, action=action):
        click.echo(chunk, nl=False)
