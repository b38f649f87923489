"""Operator commands: ``argus nodes``, ``argus node release``."""

from __future__ import annotations

import click

from argus.cli.common import CliState, output_option
from argus.cli.output import emit_json, table


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


@click.command("nodes")
@output_option
@click.pass_obj
def nodes_cmd(state: CliState, output: str) -> None:
    """Every worker node: address, GPUs, in use, state, quarantine reason, heartbeat age, zombie."""
    answer = state.client().nodes()
    if output == "json":
        emit_json(answer)
        return
    if not answer["ray_reachable"]:
        click.echo("(Ray is unreachable: nodes are shown from their agents' records only)")
    rows = [[n["name"], n["address"], f"{_num(n['gpus'])} {n['gpu_model']}".strip(), _num(n["in_use"]),
             n["state"], "-" if n["heartbeat_age"] is None else f"{n['heartbeat_age']:.0f}s",
             n["zombie"] or "-", n["quarantine_reason"] or "-"] for n in answer["items"]]
    table(rows, ["NODE", "ADDRESS", "GPUS", "IN_USE", "STATE", "HEARTBEAT", "ZOMBIE", "QUARANTINE_REASON"])


@click.group("node")
def node_group() -> None:
    """One worker node."""


@node_group.command("release")
@click.argument("name")
@output_option
@click.pass_obj
def node_release(state: CliState, name: str, output: str) -> None:
    """Lift NAME's quarantine (admin; audited). Its agent rejoins Ray within a few seconds."""
    answer = state.client().release_node(name)
    if output == "json":
        emit_json(answer)
        return
    click.echo(f"node {name}: {answer['message']} (was: {answer['was']})")


COMMANDS = [nodes_cmd, node_group]
