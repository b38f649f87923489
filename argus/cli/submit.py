"""Task-file commands: submit, validate, schema (the only CLI module that parses task files)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from argus.cli.carry import carry_code
from argus.cli.common import CliState, output_option, pass_state
from argus.cli.output import emit_json
from argus.cli.tasks import follow_task, summary
from argus.errors import InvalidSpec, Unavailable
from taskspec import SpecError, load_spec, resolve_relative_paths, spec_json_schema


def read_spec_file(path: str) -> dict:
    """Parse and check a task file locally; relative paths become absolute (from the file's dir)."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        spec = load_spec(text, source=path)
        spec = resolve_relative_paths(spec, Path.cwd(), file.resolve().parent)
    except SpecError as exc:
        raise InvalidSpec(str(exc)) from exc
    return spec.model_dump(mode="json")


def _bases(file: str) -> list[Path]:
    """Where a relative path in a task file is looked up: here, then beside the file."""
    return [Path.cwd(), Path(file).resolve().parent]


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--follow", "-f", is_flag=True, help="Follow the task to its end, with its logs.")
@click.option("--dry-run", is_flag=True, help="Check and show the exact Ray job; queue nothing.")
@click.option("--idempotency-key", help="Retrying with the same key returns the same task.")
@output_option
@pass_state
def submit(state: CliState, file: str, follow: bool, dry_run: bool, idempotency_key: str | None,
           output: str) -> None:
    """Queue the task described in FILE (YAML)."""
    spec = read_spec_file(file)
    client = state.client()
    spec = carry_code(client, spec, _bases(file), quiet=output == "json")
    result = client.submit(spec, source=file, dry_run=dry_run, idempotency_key=idempotency_key)
    if dry_run:
        _print_dry_run(result, output)
        return
    if output == "json" and not follow:
        emit_json(summary(result))
        return
    if output == "text":
        click.echo(f"task {result['id']} ({result['name']}) queued: {result['reason']}")
    if follow:
        final = follow_task(client, result["id"], quiet=output == "json")
        if output == "json":
            emit_json(summary(final))
        sys.exit(0 if final["status"] == "SUCCEEDED" else 1)


def _print_dry_run(result: dict, output: str) -> None:
    if output == "json":
        emit_json(result)
        return
    click.echo("dry run: nothing was queued")
    click.echo(f"entrypoint: {result['entrypoint']}")
    click.echo(f"driver resources: {result['entrypoint_num_cpus']:g} CPU, "
               f"{result['entrypoint_num_gpus']:g} GPU, {json.dumps(result['entrypoint_resources'])}")
    env = result["runtime_env"].get("env_vars", {})
    click.echo("env: " + " ".join(f"{k}={v}" for k, v in sorted(env.items())))
    if "py_executable" in result["runtime_env"]:
        click.echo(f"python: {result['runtime_env']['py_executable']}")
    for key, value in (result.get("verl_config") or {}).items():  # composed by the tree's hydra
        click.echo(f"verl config: {key} = {json.dumps(value)}")
    decision = result["decision"]
    click.echo(f"decision: {'admit now' if decision['admit'] else 'wait'} — {decision['reason']}")
    if decision.get("preempt"):
        click.echo("would preempt: " + ", ".join(f"task {t}" for t in decision["preempt"]))


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--offline", is_flag=True, help="Only the local schema checks; skip the server's.")
@pass_state
def validate(state: CliState, file: str, offline: bool) -> None:
    """Check FILE: the schema here, then the server's checks (paths, verl config) if reachable."""
    spec = read_spec_file(file)
    if offline:
        click.echo(f"{file}: valid (schema only)")
        return
    try:
        client = state.client()
        spec = carry_code(client, spec, _bases(file))
        result = client.submit(spec, source=file, dry_run=True)
    except Unavailable as exc:
        click.echo(f"{file}: schema valid; server checks skipped ({exc.message})")
        return
    click.echo(f"{file}: valid")
    click.echo(f"entrypoint: {result['entrypoint']}")


@click.command()
def schema() -> None:
    """Print the JSON schema of task files."""
    emit_json(spec_json_schema())
