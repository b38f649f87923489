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


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return str(count)


@click.command("gc")
@click.option("--apply", is_flag=True, help="Remove what is listed (default: a dry run that only lists).")
@output_option
@click.pass_obj
def gc_cmd(state: CliState, apply: bool, output: str) -> None:
    """Remove, under the retention policy, ended tasks' checkpoints and logs (unless pinned), orphaned
    task directories, and compact old events; a dry run unless --apply."""
    answer = state.client().gc(apply=apply)
    if output == "json":
        emit_json(answer)
        return
    rows = [[i["kind"], i["task_id"] if i["task_id"] is not None else "-",
             f"{i['count']} events" if i["kind"] == "events" else _size(i["bytes"]), i["target"]]
            for i in answer["items"]]
    if rows:
        table(rows, ["KIND", "TASK", "SIZE", "TARGET"])
    verb = "freed" if apply else "would free"
    click.echo(f"{len(rows)} item(s); {verb} {_size(answer['bytes'])} (retention {answer['retention_days']:g} days, "
               f"events {answer['event_retention_days']:g} days)" + ("" if apply else "; run with --apply to remove"))
    for failure in answer["failed"]:
        click.echo(f"could not remove {failure['target']}: {failure['error']}", err=True)


@click.command("pin")
@click.argument("task_id", type=int)
@click.pass_obj
def pin_cmd(state: CliState, task_id: int) -> None:
    """Keep TASK_ID's checkpoints and logs from argus gc."""
    answer = state.client().pin(task_id)
    click.echo(f"task {task_id}: pinned ({answer['checkpoint_dir']} is kept)")


@click.command("unpin")
@click.argument("task_id", type=int)
@click.pass_obj
def unpin_cmd(state: CliState, task_id: int) -> None:
    """Let argus gc remove TASK_ID's checkpoints and logs after the retention period."""
    state.client().pin(task_id, pinned=False)
    click.echo(f"task {task_id}: unpinned")


@click.command("doctor")
@click.argument("task_id", type=int, required=False)
@output_option
@click.pass_obj
def doctor_cmd(state: CliState, task_id: int | None, output: str) -> None:
    """Why TASK_ID failed (known causes, what to do, a model's view if configured); without
    TASK_ID: zombie nodes, RUNNING tasks whose Ray job is gone, quarantined nodes."""
    answer = state.client().doctor(task_id)
    if output == "json":
        emit_json(answer)
        return
    if task_id is None:
        _cluster_report(answer)
        return
    click.echo(f"task {answer['task']} ({answer['name']}): {answer['status']}, attempt {answer['attempt']}, "
               f"exit code {answer['exit_code'] if answer['exit_code'] is not None else '-'}")
    if answer.get("note"):
        click.echo(f"note: {answer['note']}")
    click.echo(f"cause: {answer['reason']} - {answer['summary']}"
               + (" (transient: retried)" if answer["transient"] else ""))
    if answer["evidence"]:
        click.echo(f"evidence: {answer['evidence']}")
    click.echo(f"what to do: {answer['what_to_do']}")
    llm = answer.get("llm")
    if llm:
        click.echo(f"\n{llm['model'] or 'model'} says: {llm.get('diagnosis') or 'no answer (' + llm['error'] + ')'}")


def _cluster_report(answer: dict) -> None:
    lines = [*answer["problems"]]
    lines += [f"zombie node {z['node']}: {z['why']}" for z in answer["zombie_nodes"]]
    lines += [f"task {g['task']} is RUNNING but {g['why']} ({g['submission_id']})" for g in answer["running_without_job"]]
    lines += [f"node {q['node']} quarantined: {q['reason']}" for q in answer["quarantined"]]
    for line in lines:
        click.echo(line)
    click.echo("healthy" if answer["healthy"] else f"{len(lines)} finding(s)")


COMMANDS = [nodes_cmd, node_group, gc_cmd, pin_cmd, unpin_cmd, doctor_cmd]
