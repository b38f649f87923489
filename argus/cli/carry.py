"""Code travels with the task: local code becomes a snapshot in the user's workspace.

``argus submit`` (and ``validate``) call :func:`carry_code` on the spec. For the custom ``code``,
a verl ``code`` given as a directory, and a verl reward file: when the path is not on the shared
filesystem as the server sees it (not inside the roots ``GET /v1/fs/workspace`` lists) but
exists here, the files (minus ``.gitignore``/``.argusignore``) are uploaded once as a
content-addressed snapshot and the spec is rewritten to name it. The server records which
snapshots a task runs; ``resubmit`` runs the same ones.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import click

from argus.client import ArgusClient
from argus.errors import TooLarge
from argus.files import snapshot
from argus.files.sizes import fmt_bytes

SPOOL_IN_MEMORY = 8 << 20


def _fields(spec: dict) -> list[tuple[str, dict, str]]:
    """(field path, the dict holding it, key) of every path that may be carried."""
    if spec.get("kind") == "custom":
        return [("code", spec, "code")]
    verl = spec.get("verl") or {}
    found = [("verl.code", verl, "code")] if "/" in str(verl.get("code", "")) else []
    if isinstance(verl.get("reward"), dict) and verl["reward"].get("path"):
        found.append(("verl.reward.path", verl["reward"], "path"))
    return found


def _inside(path: Path, roots: list[str]) -> bool:
    real = Path(os.path.realpath(path))
    return any(real == Path(r) or real.is_relative_to(r) for r in roots)


def _local(value: str, bases: list[Path]) -> Path | None:
    for base in bases:
        candidate = (base / value) if not Path(value).is_absolute() else Path(value)
        if candidate.exists():
            return candidate
    return None


def carry_code(client: ArgusClient, spec: dict, bases: list[Path], *, quiet: bool = False) -> dict:
    """Rewrite local-only paths of ``spec`` to snapshots uploaded into the workspace."""
    workspace: dict[str, Any] | None = None
    for field, holder, key in _fields(spec):
        local = _local(str(holder[key]), bases)
        if local is None:
            continue  # not here either: the server says what is wrong with it
        workspace = workspace or client.workspace()
        if _inside(local, workspace["roots"]):
            holder[key] = str(local.resolve()) if not Path(holder[key]).is_absolute() else holder[key]
            continue
        result, uploaded = upload_snapshot(client, local, field, workspace["snapshot_max_bytes"])
        holder[key] = result["path"] if local.is_dir() else f"{result['path']}/{local.name}"
        if not quiet:
            how = "uploaded" if uploaded else "already there"
            click.echo(f"{field}: {local} -> snapshot sha256:{result['sha256'][:16]} "
                       f"({result['files']} files, {fmt_bytes(result['bytes'])}; {how})", err=True)
    return spec


def upload_snapshot(client: ArgusClient, local: Path, field: str, cap: int) -> tuple[dict, bool]:
    """(the snapshot, whether it was uploaded now) of ``local``, refused past ``cap`` bytes."""
    items = snapshot.collect(local)
    total = sum(i.size for i in items)
    if total > cap:
        biggest = sorted(items, key=lambda i: -i.size)[:3]
        raise TooLarge(
            f"{field}: {local} holds {fmt_bytes(total)} after .gitignore/.argusignore, more than "
            f"the {fmt_bytes(cap)} a code snapshot may hold (the server's ARGUS_SNAPSHOT_MAX_BYTES); "
            f"largest: {', '.join(f'{i.rel} ({fmt_bytes(i.size)})' for i in biggest)}. Exclude "
            "data and outputs in .argusignore and copy data with argus cp")
    digest = snapshot.snapshot_id(items)
    existing = client.snapshot(digest)
    if existing is not None:
        return existing, False
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as tar:
        snapshot.write_tar(items, tar)
        size = tar.tell()
        tar.seek(0)
        return client.upload_snapshot(digest, tar, size), True
