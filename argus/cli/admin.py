"""Identity commands over HTTP: user, team, token, whoami (no database, no server code)."""

from __future__ import annotations

import click

from argus.authz import GRANTABLE
from argus.cli.common import CliState, output_option, pass_state
from argus.cli.config import write_config
from argus.cli.files import storage
from argus.cli.output import emit_json, table, when
from argus.cli.policy import quota


def show_secret(result: dict, save: bool, server: str | None) -> None:
    click.echo(f"token {result['name']} for {result['user']} (shown once, store it now):")
    click.echo(result["token"])
    if save:
        path = write_config({"token": result["token"], **({"server": server} if server else {})})
        click.echo(f"saved to {path} (mode 600)", err=True)


@click.group()
def user() -> None:
    """Users: create, list, grant and revoke-grant extra permissions."""


@user.command("create")
@click.argument("name")
@click.option("--team", help="The user's team.")
@click.option("--role", type=click.Choice(["admin", "team-admin", "user", "viewer", "auditor"]),
              default="user", show_default=True)
@output_option
@pass_state
def user_create(state: CliState, name: str, team: str | None, role: str, output: str) -> None:
    """Create user NAME (then: argus token create --user NAME)."""
    result = state.client().create_user(name, team=team, role=role)
    emit_json(result) if output == "json" else click.echo(
        f"user {result['name']} created (team {result['team'] or '-'}, role {result['role']})")


@user.command("list")
@output_option
@pass_state
def user_list(state: CliState, output: str) -> None:
    users = state.client().users()
    if output == "json":
        emit_json(users)
        return
    table([[u["name"], u["team"] or "-", u["role"], ",".join(u.get("grants") or []) or "-",
            when(u["created_at"])] for u in users],
          ["NAME", "TEAM", "ROLE", "GRANTS", "CREATED"])


@user.command("grant")
@click.argument("name")
@click.argument("permission", type=click.Choice(sorted(GRANTABLE)))
@output_option
@pass_state
def user_grant(state: CliState, name: str, permission: str, output: str) -> None:
    """Give user NAME an extra PERMISSION (task.logs: their team's logs). Admins; team-admins for
    their team's members."""
    result = state.client().grant(name, permission)
    emit_json(result) if output == "json" else click.echo(
        f"user {name} now has: {', '.join(result['grants'])}")


@user.command("revoke-grant")
@click.argument("name")
@click.argument("permission", type=click.Choice(sorted(GRANTABLE)))
@output_option
@pass_state
def user_revoke_grant(state: CliState, name: str, permission: str, output: str) -> None:
    """Take PERMISSION back from user NAME."""
    result = state.client().revoke_grant(name, permission)
    emit_json(result) if output == "json" else click.echo(
        f"user {name} no longer has {permission}; grants: {', '.join(result['grants']) or 'none'}")


@click.group()
def team() -> None:
    """Teams: create, list, show (members and GPUs in use); quota (admins set it)."""


team.add_command(quota)


@team.command("create")
@click.argument("name")
@click.option("--description", default="")
@pass_state
def team_create(state: CliState, name: str, description: str) -> None:
    state.client().create_team(name, description)
    click.echo(f"team {name} created")


@team.command("list")
@pass_state
def team_list(state: CliState) -> None:
    table([[t["name"], t["description"]] for t in state.client().teams()], ["NAME", "DESCRIPTION"])


@team.command("show")
@click.argument("name")
@output_option
@pass_state
def team_show(state: CliState, name: str, output: str) -> None:
    info = state.client().team(name)
    if output == "json":
        emit_json(info)
        return
    click.echo(f"team {info['name']}: {info['gpus_in_use']:g} GPUs in use")
    if info.get("storage"):
        click.echo(f"storage: {info['storage']['text']} used")
    table([[m["name"], m["role"]] for m in info["members"]], ["MEMBER", "ROLE"])
    rows = info.get("quota") or []
    if not rows:
        click.echo("quota: none (argus team quota set); the team is not limited")
        return

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:g}"

    click.echo("")
    table([[r["flavor"], num(r["nominal"]), num(r["lent"]), num(r["borrowed"]), num(r["effective"]),
            num(r["borrowing_limit"]), num(r["lending_limit"]), num(r["in_use"])] for r in rows],
          ["FLAVOR", "NOMINAL", "LENT", "BORROWED", "EFFECTIVE", "MAY_BORROW", "MAY_LEND", "IN_USE"])


@click.group()
def token() -> None:
    """API tokens: create (shown once), list, revoke."""


@token.command("create")
@click.option("--user", "user_name", help="Whose token (default: yourself).")
@click.option("--name", help="A name to tell tokens apart (default token-<time>).")
@click.option("--expires", help="Lifetime: 30m, 12h, 90d, 2w (default: no expiry).")
@click.option("--save", is_flag=True, help="Also write it to the CLI config file (0600).")
@pass_state
def token_create(state: CliState, user_name: str | None, name: str | None, expires: str | None,
                 save: bool) -> None:
    client = state.client()
    result = client.create_token(user_name or client.whoami()["user"], name=name, expires=expires)
    show_secret(result, save, state.server)


@token.command("list")
@click.option("--user", "user_name")
@output_option
@pass_state
def token_list(state: CliState, user_name: str | None, output: str) -> None:
    items = state.client().tokens(user_name)
    if output == "json":
        emit_json(items)
        return
    table([[t["user"], t["name"], t["prefix"] + "…", when(t["expires_at"]),
            when(t["last_used_at"]), "revoked" if t["revoked_at"] else "active"] for t in items],
          ["USER", "NAME", "PREFIX", "EXPIRES", "LAST USED", "STATE"])


@token.command("revoke")
@click.argument("name")
@click.option("--user", "user_name", help="Whose token (default: yourself).")
@pass_state
def token_revoke(state: CliState, name: str, user_name: str | None) -> None:
    client = state.client()
    owner = user_name or client.whoami()["user"]
    client.revoke_token(owner, name)
    click.echo(f"token {name} of {owner} revoked")


@click.command()
@output_option
@pass_state
def whoami(state: CliState, output: str) -> None:
    """Who the token stands for, and what that role may do."""
    me = state.client().whoami()
    if output == "json":
        emit_json(me)
        return
    click.echo(f"{me['user']} (role {me['role']}, team {me['team'] or '-'}, token {me['token']})")
    for action, scope in me["permissions"].items():
        click.echo(f"  {action}: {scope}")

team.add_command(storage)
