"""``argus verl``: the verl trees the server knows, with their interpreters, layouts and status."""

from __future__ import annotations

import click

from argus.cli.common import CliState, output_option, pass_state
from argus.cli.output import emit_json, table


@click.group()
def verl() -> None:
    """verl trees: which ones the server knows and whether they pass its checks.

    \b
      argus verl trees                  name, layout, interpreter, status
      argus submit task.yaml --dry-run  the composed verl config values Argus sets
    Register a tree in ARGUS_VERL_TREES, or put it at <shared>/code/verl-X with its environment at
    <shared>/envs/verl-X (docs/verl.md)."""


@verl.command("trees")
@output_option
@pass_state
def trees(state: CliState, output: str) -> None:
    """Each tree: path, interpreter (and where it came from), layout, workloads, status."""
    result = state.client().verl_trees()
    if output == "json":
        emit_json(result)
        return
    rows = [[t["name"], t["path"], f"{t['python']} ({t['python_source']})", ",".join(t["workloads"]) or "-",
             t["status"] if not t["problem"] else f"{t['status']}: {t['problem']}"] for t in result["items"]]
    table(rows, ["NAME", "PATH", "INTERPRETER", "WORKLOADS", "STATUS"])
    for t in result["items"]:
        if t["layout"]:
            click.echo(f"{t['name']}: {t['layout']}; {t['cpus_per_gpu']} CPU per GPU")
    click.echo(f"server Ray {result['ray_version']}: every interpreter must carry the same version")
