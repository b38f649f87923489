"""``argus secret``: values a user's jobs get in their environment (e.g. WANDB_API_KEY)."""

from __future__ import annotations

import sys

import click

from argus.cli.common import CliState, output_option, pass_state
from argus.cli.output import emit_json, table, when


@click.group()
def secret() -> None:
    """Secrets: stored encrypted, injected into your jobs as environment variables, never shown.

    \b
      argus secret set WANDB_API_KEY         prompts for the value (hidden)
      echo "$KEY" | argus secret set WANDB_API_KEY --stdin
      argus secret list
      argus secret rm WANDB_API_KEY
    With WANDB_API_KEY stored, verl runs log to W&B and every attempt of a task continues the
    same run; without it W&B runs offline."""


@secret.command("set")
@click.argument("name")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the value from standard input.")
@click.option("--from-file", type=click.File("r"), help="Read the value from a file.")
@click.option("--user", help="Another user's secret (admins only).")
@output_option
@pass_state
def secret_set(state: CliState, name: str, from_stdin: bool, from_file, user: str | None,  # noqa: ANN001
               output: str) -> None:
    """Store secret NAME (the value is never an argument: it would land in shell history)."""
    if from_stdin and from_file:
        raise click.UsageError("give --stdin or --from-file, not both")
    if from_file is not None:
        value = from_file.read().rstrip("\n")
    elif from_stdin or not sys.stdin.isatty():
        value = sys.stdin.read().rstrip("\n")
    else:
        value = click.prompt(f"value of {name}", hide_input=True)
    result = state.client().set_secret(name, value, user=user)
    emit_json(result) if output == "json" else click.echo(
        f"secret {name} {'stored' if result['created'] else 'replaced'} for {result['user']}; "
        "your next jobs get it in their environment")


@secret.command("list")
@click.option("--user", help="Another user's secrets (admins only).")
@output_option
@pass_state
def secret_list(state: CliState, user: str | None, output: str) -> None:
    """Secret names and when they were set (never the values)."""
    items = state.client().secrets(user)
    if output == "json":
        emit_json(items)
        return
    table([[s["name"], when(s["updated_at"])] for s in items], ["NAME", "UPDATED"])


@secret.command("rm")
@click.argument("name")
@click.option("--user", help="Another user's secret (admins only).")
@output_option
@pass_state
def secret_rm(state: CliState, name: str, user: str | None, output: str) -> None:
    """Remove secret NAME; jobs submitted from now on no longer get it."""
    result = state.client().delete_secret(name, user=user)
    emit_json(result) if output == "json" else click.echo(f"secret {name} removed")

