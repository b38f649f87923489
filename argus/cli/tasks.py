"""Task commands over HTTP: list, status, logs, cancel, resubmit (no task-file parsing here)."""

from __future__ import annotations

import time

import click

from argus.cli.common import CliState, output_option, pass_state
from argus.cli.output import age, emit_json, table, task_block
from argus.client import ArgusClient
from argus.states import is_terminal


def summary(task: dict) -> dict:
    keys = ("id", "name", "status", "reason", "attempts", "max_attempts", "latest_step",
            "priority", "submission_id")
    return {k: task.get(k) for k in keys}


def follow_task(client: ArgusClient, task_id: int, *, quiet: bool = False,
                poll_s: float = 1.0, max_s: float = 7 * 24 * 3600) -> dict:
    """Print status changes (with why a task waits) and stream logs while it runs."""
    last = (None, None)
    deadline = time.monotonic() + max_s
    while time.monotonic() < deadline:
        task = client.get(task_id)
        now = (task["status"], task["reason"])
        if now != last and not quiet:
            click.echo(f"[{time.strftime('%H:%M:%S')}] {task['status']}: {task['reason']}", err=True)
        last = now
        if task["status"] in ("RUNNING", "SUBMITTED") and task["attempts"]:
            for chunk in client.follow_logs(task_id, task["attempts"]):
                if not quiet:
                    click.echo(chunk, nl=False)
            continue
        if is_terminal(task["status"]):
            return task
        time.sleep(poll_s)
    raise click.ClickException(f"stopped following task {task_id} after {max_s:.0f}s")


@click.command("list")
@click.option("--status", "-s", multiple=True, help="Only these statuses (repeat or comma-separate).")
@click.option("--priority", help="Only this priority class.")
@click.option("--team", help="Only this team.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--after", type=click.IntRange(1), metavar="ID",
              help="Only tasks older than task ID (the next page: the ID the last page names).")
@output_option
@pass_state
def list_cmd(state: CliState, status: tuple[str, ...], priority: str | None, team: str | None,
             limit: int, offset: int, after: int | None, output: str) -> None:
    """List tasks, newest first."""
    result = state.client().list(status=list(status) or None, priority=priority, team=team,
                                 limit=limit, offset=offset, after=after)
    if output == "json":
        emit_json(result)
        return
    rows = [[t["id"], t["name"], t["kind"], t["priority"], t["status"],
             f"{t['attempts']}/{t['max_attempts']}",
             "-" if t["latest_step"] is None else t["latest_step"], age(t["created_at"]),
             t["reason"][:80]] for t in result["items"]]
    table(rows, ["ID", "NAME", "KIND", "PRIORITY", "STATUS", "TRIES", "STEP", "AGE", "REASON"])
    if result.get("next_after"):
        click.echo(f"({result['total']} in all; --after {result['next_after']} for more)")


@click.command()
@click.argument("task_id", type=int)
@click.option("--events", "show_events", is_flag=True, help="Also list every status change.")
@output_option
@pass_state
def status(state: CliState, task_id: int, show_events: bool, output: str) -> None:
    """Show one task: status, why it waits, attempts, newest checkpoint step."""
    client = state.client()
    task = client.get(task_id)
    if output == "json":
        if show_events:
            task["events"] = client.events(task_id)
        emit_json(task)
        return
    task_block(task)
    if show_events:
        click.echo("events:")
        for e in client.events(task_id):
            click.echo(f"  {time.strftime('%H:%M:%S', time.localtime(e['ts']))} "
                       f"{e['from'] or '-'} -> {e['to']}: {e['reason']}")


@click.command()
@click.argument("task_id", type=int)
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the attempt ends.")
@click.option("--attempt", type=int, help="Which attempt (default: the latest).")
@pass_state
def logs(state: CliState, task_id: int, follow: bool, attempt: int | None) -> None:
    """Print the task's driver log."""
    client = state.client()
    if follow:
        for chunk in client.follow_logs(task_id, attempt):
            click.echo(chunk, nl=False)
        return
    click.echo(client.logs(task_id, attempt), nl=False)


@click.command()
@click.argument("task_id", type=int)
@output_option
@pass_state
def cancel(state: CliState, task_id: int, output: str) -> None:
    """Cancel a task (a running one is stopped by the scheduler)."""
    task = state.client().cancel(task_id)
    if output == "json":
        emit_json(summary(task))
    else:
        click.echo(f"task {task_id}: {task['status']}")


@click.command()
@click.argument("task_id", type=int)
@click.option("--fresh", is_flag=True, help="Start from scratch instead of the last checkpoint.")
@output_option
@pass_state
def resubmit(state: CliState, task_id: int, fresh: bool, output: str) -> None:
    """Queue an ended task again as a new task (resumes from its checkpoints)."""
    task = state.client().resubmit(task_id, fresh=fresh)
    if output == "json":
        emit_json(summary(task))
    else:
        click.echo(f"task {task['id']} queued as a resubmission of {task_id}")
