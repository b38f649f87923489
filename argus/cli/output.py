"""Printing helpers shared by the CLI commands: tables, key/value blocks, JSON."""

from __future__ import annotations

import json
import time
from typing import Any

import click


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def age(ts: float | None) -> str:
    if not ts:
        return "-"
    secs = max(0, int(time.time() - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def table(rows: list[list[str]], headers: list[str]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    widths[-1] = 0  # the last column (a reason) is not padded
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    click.echo(fmt.format(*headers).rstrip())
    for row in rows:
        click.echo(fmt.format(*[str(x) for x in row]).rstrip())


def task_block(task: dict[str, Any]) -> None:
    res = task["resources"]
    gpus = f"{res['gpus_per_node']:g}" + (f" {res['gpu_model']}" if res.get("gpu_model") else "")
    lines = [
        ("id", task["id"]), ("name", task["name"]), ("kind", task["kind"]),
        ("priority", task["priority"]), ("team", task.get("team") or "-"),
        ("status", task["status"]), ("reason", task["reason"]),
        ("attempts", f"{task['attempts']}/{task['max_attempts']}"),
        ("preemptions", task["preemptions"]),
        ("latest step", task["latest_step"] if task["latest_step"] is not None else "-"),
        ("resources", f"{res['nodes']} node(s) x ({gpus} GPU, {res['cpus_per_node']:g} CPU)"),
        ("checkpoints", task["checkpoint_dir"]),
        ("ray job", task.get("submission_id") or "-"),
        ("created", when(task["created_at"])), ("started", when(task["started_at"])),
        ("finished", when(task["finished_at"])),
    ]
    if task.get("exit_code") is not None:
        lines.append(("exit code", task["exit_code"]))
    if task.get("termination"):
        lines.append(("ended by", task["termination"]))
    if task.get("command"):
        lines.append(("command", " ".join(task["command"])))
    for field, digest in (task.get("snapshots") or {}).items():
        lines.append(("snapshot", f"{field} = sha256:{digest[:16]} (immutable, uploaded by argus submit)"))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        click.echo(f"{key + ':':<{width + 1}} {value}")
