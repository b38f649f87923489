"""File commands: cp, ls, rm, mkdir (over HTTP), SSH keys for SFTP, team storage quotas.

A remote path is written ``argus:/path`` (``argus:`` may be left out for ls, rm and mkdir);
``/`` is your workspace, ``/team`` your team's directory (docs/data.md).
"""

from __future__ import annotations

from pathlib import Path

import click

from argus.cli.common import CliState, output_option, pass_state
from argus.cli.output import emit_json, table, when
from argus.cli.transfer import (
    CHUNK,
    Progress,
    download_file,
    join,
    local_files,
    remote_files,
    upload_file,
)
from argus.client import ApiError, ArgusClient
from argus.files.sizes import fmt_bytes, parse_bytes
from argus.errors import BadRequest

PREFIX = "argus:"


def remote_path(text: str, *, need_prefix: bool = False) -> str | None:
    if text.startswith(PREFIX):
        return text[len(PREFIX):] or "/"
    return None if need_prefix else text


def _chunk(client: ArgusClient) -> int:
    return min(CHUNK, client.workspace()["upload_chunk_max_bytes"])


def _report(verb: str, src: str, dst: str, result: dict) -> None:
    click.echo(f"{verb} {src} -> {dst} ({fmt_bytes(result['size'])}, sha256 {result['sha256']})")


def _remote_is_dir(client: ArgusClient, path: str) -> bool:
    try:
        return client.fs_stat(path)["type"] == "dir"
    except ApiError as exc:
        if exc.http_status == 404:
            return False
        raise


def _upload(client: ArgusClient, sources: list[str], dest: str, recursive: bool) -> None:
    into_dir = dest.endswith("/") or len(sources) > 1 or _remote_is_dir(client, dest)
    chunk = _chunk(client)
    plan: list[tuple[Path, str]] = []
    for src in sources:
        path = Path(src)
        if path.is_dir():
            if not recursive:
                raise click.UsageError(f"{src} is a directory; copy it with -r")
            base = join(dest, path.resolve().name) if into_dir else dest
            plan += [(f, join(base, rel)) for f, rel in local_files(path)]
        elif path.is_file():
            plan.append((path, join(dest, path.name) if into_dir else dest))
        else:
            raise click.UsageError(f"{src}: no such file or directory here")
    progress = Progress(sum(f.stat().st_size for f, _ in plan), "upload")
    try:
        for local, remote in plan:
            result = upload_file(client, local, remote, chunk=chunk, progress=progress)
            _report("uploaded", str(local), PREFIX + result["path"], result)
    finally:
        progress.close()


def _download(client: ArgusClient, sources: list[str], dest: str, recursive: bool) -> None:
    target = Path(dest)
    plan: list[tuple[str, Path, int]] = []
    for src in sources:
        info = client.fs_stat(src)
        into = target.is_dir() or len(sources) > 1
        if info["type"] == "dir":
            if not recursive:
                raise click.UsageError(f"{PREFIX}{src} is a directory; copy it with -r")
            base = target / info["name"] if into else target
            plan += [(r, base / rel, size) for r, rel, size in remote_files(client, info["path"])]
        else:
            plan.append((info["path"], target / info["name"] if into else target, info["size"]))
    progress = Progress(sum(size for *_, size in plan), "download")
    try:
        for remote, local, _size in plan:
            local.parent.mkdir(parents=True, exist_ok=True)
            result = download_file(client, remote, local, progress)
            _report("downloaded", PREFIX + remote, str(local), result)
    finally:
        progress.close()


@click.command()
@click.argument("sources", nargs=-1, required=True)
@click.argument("dest")
@click.option("-r", "--recursive", is_flag=True, help="Copy directories and all in them.")
@pass_state
def cp(state: CliState, sources: tuple[str, ...], dest: str, recursive: bool) -> None:
    """Copy files to or from your workspace: cp ./x argus:/x, cp argus:/x ./x.

    \b
    argus cp ./train.py argus:/code/          upload into /code/ of your workspace
    argus cp -r ./data argus:/team/datasets/  a directory into your team's directory
    argus cp argus:/out/metrics.json .        download
    Interrupted uploads resume; every file is checked with sha256.
    """
    remote_dest = remote_path(dest, need_prefix=True)
    remote_srcs = [remote_path(s, need_prefix=True) for s in sources]
    client = state.client()
    if remote_dest is not None and not any(r is not None for r in remote_srcs):
        _upload(client, list(sources), remote_dest, recursive)
    elif remote_dest is None and all(r is not None for r in remote_srcs):
        _download(client, [r for r in remote_srcs if r is not None], dest, recursive)
    else:
        raise click.UsageError("copy either local files to argus:/path or argus:/paths to a "
                               "local path (mark the remote side with 'argus:')")


@click.command()
@click.argument("path", default="/")
@output_option
@pass_state
def ls(state: CliState, path: str, output: str) -> None:
    """List a directory of your workspace (/team: your team's)."""
    result = state.client().fs_list(remote_path(path) or "/")
    if output == "json":
        emit_json(result)
        return
    rows = [[i["type"], i["mode"], fmt_bytes(i["size"]) if i["type"] == "file" else "-",
             when(i["mtime"]), i["name"] + ("/" if i["type"] == "dir" else "")]
            for i in result["items"]]
    table(rows, ["TYPE", "MODE", "SIZE", "MODIFIED", "NAME"])
    if result.get("truncated"):
        click.echo(f"(only the first {len(rows)} entries are shown)")


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("-r", "--recursive", is_flag=True, help="Delete directories and all in them.")
@pass_state
def rm(state: CliState, paths: tuple[str, ...], recursive: bool) -> None:
    """Delete files (directories with -r) in your workspace."""
    client = state.client()
    for path in paths:
        result = client.fs_delete(remote_path(path) or "/", recursive=recursive)
        click.echo(f"deleted {PREFIX}{result['path']} ({fmt_bytes(result['bytes'])})")


@click.command()
@click.argument("path")
@pass_state
def mkdir(state: CliState, path: str) -> None:
    """Create a directory (and its parents) in your workspace."""
    result = state.client().fs_mkdir(remote_path(path) or "/")
    click.echo(f"created {PREFIX}{result['path']}")


@click.group()
def key() -> None:
    """SSH public keys for SFTP sign-in (sftp -P PORT you@server)."""


@key.command("add")
@click.argument("pubkey_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", help="A name for the key (default: from its comment).")
@output_option
@pass_state
def key_add(state: CliState, pubkey_file: str, name: str | None, output: str) -> None:
    """Register the public key in PUBKEY_FILE (e.g. ~/.ssh/id_ed25519.pub)."""
    result = state.client().add_key(Path(pubkey_file).read_text(errors="replace"), name)
    if output == "json":
        emit_json(result)
    else:
        click.echo(f"key {result['name']} added: {result['type']} {result['fingerprint']}")


@key.command("list")
@output_option
@pass_state
def key_list(state: CliState, output: str) -> None:
    """Your registered SSH keys (an admin: everyone's)."""
    items = state.client().keys()
    if output == "json":
        emit_json(items)
        return
    table([[k["user"], k["name"], k["type"], k["fingerprint"], when(k["created_at"])]
           for k in items], ["USER", "NAME", "TYPE", "FINGERPRINT", "ADDED"])


@key.command("remove")
@click.argument("name")
@pass_state
def key_remove(state: CliState, name: str) -> None:
    """Remove a key, by name or fingerprint."""
    result = state.client().remove_key(name)
    click.echo(f"key {result['name']} removed ({result['fingerprint']})")


@click.command("storage")
@click.argument("team")
@click.option("--quota", help="Set the quota: 500G, 1.5TiB, 10MB (admins).")
@click.option("--unlimited", is_flag=True, help="Remove the quota (admins).")
@output_option
@pass_state
def storage(state: CliState, team: str, quota: str | None, unlimited: bool, output: str) -> None:
    """Show a team's storage use and quota; --quota sets it."""
    client = state.client()
    if quota is not None and unlimited:
        raise click.UsageError("give --quota SIZE or --unlimited, not both")
    try:
        size = parse_bytes(quota) if quota is not None else None
    except BadRequest as exc:
        raise click.BadParameter(exc.message, param_hint="--quota") from exc
    result = (client.set_team_storage(team, size) if quota is not None or unlimited
              else client.team_storage(team))
    if output == "json":
        emit_json(result)
    else:
        click.echo(f"team {team}: {result['text']} used")


