"""``argus admin init``: the first admin, written straight into the server's database."""

from __future__ import annotations

import click

from argus.cli.admin import show_secret
from argus.cli.common import CliState, pass_state
from argus.services import identity
from argus.settings import load_settings


@click.group()
def admin() -> None:
    """Bootstrap: create the first admin directly in the server's database."""


@admin.command("init")
@click.argument("name")
@click.option("--team", help="Put the admin in this team (created if missing).")
@click.option("--save", is_flag=True, help="Also write the token to the CLI config file (0600).")
@pass_state
def admin_init(state: CliState, name: str, team: str | None, save: bool) -> None:
    """Create the first admin NAME and print their token once (uses ARGUS_DB_URL/ARGUS_STATE_DIR).

    Refused when an admin already exists: there is no default password."""
    result = identity.init_admin(load_settings().database_url, name, team=team)
    show_secret(result, save, state.server)
