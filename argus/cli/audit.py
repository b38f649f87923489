"""``argus audit``: verify the trail's hash chain (over HTTP, or the database with --local), export it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from argus.cli.common import CliState, pass_state
from argus.db.engine import Database
from argus.services import audit as audit_service
from argus.settings import load_settings


@click.group()
def audit() -> None:
    """The audit trail: verify its hash chain (against an anchor), anchor it, export it."""


LOCAL = click.option("--local", is_flag=True,
                     help="Read the server's database directly (ARGUS_DB_URL/ARGUS_STATE_DIR), "
                     "e.g. while the server is down.")


@audit.command("verify")
@LOCAL
@click.option("--anchor", "anchor_file", type=click.Path(dir_okay=False),
              help="An anchor file from `argus audit anchor`: also check that the trail still "
              "has its entries (no truncated tail, nothing redone before it).")
@pass_state
def audit_verify(state: CliState, local: bool, anchor_file: str | None) -> None:
    """Check the chain; exit 1 and name the first broken entry if it does not hold."""
    anchor = _read_anchor(anchor_file) if anchor_file else None
    report = _verify_local(anchor) if local else state.client().audit_verify(anchor)
    broken = report["first_broken"]
    if broken:
        click.echo(f"BROKEN at entry {broken['id']} ({broken['time']}): {broken['reason']}; "
                   f"{report['entries']} entries before it verify", err=True)
        sys.exit(1)
    checked = report.get("anchor")
    if checked and not checked["ok"]:
        click.echo(f"BROKEN against the anchor {anchor_file}: {checked['reason']}", err=True)
        sys.exit(1)
    against = f"; anchor {anchor_file} ({checked['entries']} entries) holds" if checked else ""
    click.echo(f"ok: {report['entries']} entries, head {report['head_hash']}{against}")


@audit.command("anchor")
@LOCAL
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="Where to write the anchor; keep it off the server (another host, a ticket).")
@pass_state
def audit_anchor(state: CliState, local: bool, output: str) -> None:
    """Export the trail's head (entry count and hash) after verifying it: a later
    `argus audit verify --anchor FILE` detects a tail cut off or a trail redone since."""
    report = _verify_local(None) if local else state.client().audit_verify()
    if not report["ok"]:
        broken = report["first_broken"]
        click.echo(f"not anchoring a broken trail: entry {broken['id']}: {broken['reason']}", err=True)
        sys.exit(1)
    anchor = audit_service.anchor_of(report)
    Path(output).write_text(json.dumps(anchor, indent=2) + "\n")
    click.echo(f"anchor: {anchor['entries']} entries, head {anchor['head_hash']} -> {output}")


def _read_anchor(path: str) -> dict:
    try:
        anchor = json.loads(Path(path).read_text())
        entries, head = int(anchor["entries"]), str(anchor["head_hash"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"{path}: not an anchor from `argus audit anchor` ({exc})") from None
    if entries < 0 or len(head) != 64:
        raise click.ClickException(f"{path}: not an anchor from `argus audit anchor`")
    return {"entries": entries, "head_hash": head}


def _verify_local(anchor: dict | None) -> dict:
    db = Database(load_settings().database_url)
    try:
        return audit_service.verify(db, anchor)
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
