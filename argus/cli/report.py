"""``argus report``: usage per team, user or priority (GPU-hours, tasks, waits, preemptions, failures)."""

from __future__ import annotations

import re
import time

import click

from argus.cli.common import CliState
from argus.cli.output import emit_json, table

_AGO = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def when(text: str | None) -> str | None:
    """'30d' / '12h' (that long ago) become seconds since the epoch; anything else goes as given
    (ISO 8601 or epoch seconds; the server says what is wrong with it)."""
    if text is None:
        return None
    match = _AGO.match(text.strip())
    return f"{time.time() - float(match[1]) * _UNIT[match[2]]:.0f}" if match else text


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


@click.command("report")
@click.option("--since", required=True, help="Start: ISO date/time (UTC), epoch seconds, or an age like 30d, 12h.")
@click.option("--until", default=None, help="End (default: now); same forms as --since.")
@click.option("--by", type=click.Choice(["team", "user", "priority"]), default="team", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "html"]), default="table",
              show_default=True, help="html: one page with inline SVG charts (redirect it to a file).")
@click.pass_obj
def report_cmd(state: CliState, since: str, until: str | None, by: str, fmt: str) -> None:
    """Usage report: GPU-hours, tasks, wait p50/p95, preemptions, failures by reason, per group."""
    client = state.client()
    wire = "json" if fmt == "table" else fmt
    answer = client.report(since=when(since), until=when(until), by=by, fmt=wire)
    if fmt in ("csv", "html"):
        click.echo(answer.text, nl=False)
        return
    body = answer.json()
    if fmt == "json":
        emit_json(body)
        return
    rows = [[r[by] or "(none)", f"{r['gpu_hours']:.1f}", r["tasks_submitted"], r["tasks_succeeded"], r["tasks_failed"],
             _num(r["wait_p50_seconds"]), _num(r["wait_p95_seconds"]), r["preemptions"],
             ", ".join(f"{k} {v}" for k, v in r["failures_by_reason"].items()) or "-"] for r in body["rows"]]
    click.echo(f"usage by {by} ({body['scope']}), {time.strftime('%Y-%m-%d %H:%M', time.gmtime(body['since']))}"
               f" – {time.strftime('%Y-%m-%d %H:%M', time.gmtime(body['until']))} UTC")
    table(rows, [by.upper(), "GPU_HOURS", "SUBMITTED", "SUCCEEDED", "FAILED", "WAIT_P50_S", "WAIT_P95_S",
                 "PREEMPTIONS", "FAILURES"])
