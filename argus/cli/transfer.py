"""Moving files between this machine and a workspace: chunked, resumable, checksummed.

Remote paths are read in the caller's view (``/`` their workspace, ``/team`` their team's
directory). Uploads resume where an interrupted one stopped (the server keeps the part) and end
with the whole file's sha256, which the server checks; downloads are hashed here and compared
with the server's sha256 of the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from argus.client import ApiError, ArgusClient
from argus.errors import Unavailable

CHUNK = 8 << 20
RETRIES = 6  # transient failures in a row before giving up (backoff 0.5 s .. 5 s)
BLOCK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


class Progress:
    """A progress bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, total: int, label: str):
        self.bar = None
        if sys.stderr.isatty():
            self.bar = click.progressbar(length=max(total, 1), label=label, file=sys.stderr,
                                         show_pos=False, show_percent=True, width=30)
            self.bar.__enter__()

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def join(remote_dir: str, name: str) -> str:
    return remote_dir.rstrip("/") + "/" + name


def upload_file(client: ArgusClient, local: Path, remote: str, *, chunk: int = CHUNK,
                progress: Progress | None = None) -> dict[str, Any]:
    """Send ``local`` to ``remote``; resume a part the server holds; retry once from 0 when the
    part turns out not to match (the local file changed since)."""
    digest = sha256_file(local)
    size = local.stat().st_size
    for attempt in (1, 2):
        offset = client.fs_upload_offset(remote)
        if offset > size or attempt == 2:
            client.fs_discard_upload(remote)
            offset = 0
        if progress is not None and offset:
            progress.update(offset)
        try:
            return _send(client, local, remote, offset, size, digest, chunk, progress)
        except ApiError as exc:
            if attempt == 2 or exc.http_status != 400 or "discarded" not in exc.message:
                raise
    raise AssertionError("unreachable")


def _send(client: ArgusClient, local: Path, remote: str, offset: int, size: int, digest: str,
          chunk: int, progress: Progress | None) -> dict[str, Any]:
    """Send the chunks from ``offset``; a lost connection or a server restart (transient) is
    retried with backoff from wherever the server says the upload stands."""
    failures = 0
    with local.open("rb") as handle:
        while True:
            handle.seek(offset)
            data = handle.read(chunk)
            final = offset + len(data) >= size
            try:
                result = client.fs_put(remote, data, offset=offset, final=final,
                                       sha256=digest if final else None)
            except (Unavailable, ApiError) as exc:
                if isinstance(exc, ApiError) and exc.http_status != 409:
                    raise  # permanent: a quota, a refused path, a bad checksum
                failures += 1
                if failures > RETRIES:
                    raise
                time.sleep(min(0.25 * 2 ** failures, 5.0))
                offset = _server_offset(client, remote, offset)
                continue
            failures = 0
            offset = result["offset"]
            if progress is not None:
                progress.update(len(data))
            if final:
                return result


def _server_offset(client: ArgusClient, remote: str, guess: int) -> int:
    """Where the server's part of the upload stands now (``guess`` while it is unreachable)."""
    try:
        return client.fs_upload_offset(remote)
    except Unavailable:
        return guess


def download_file(client: ArgusClient, remote: str, local: Path,
                  progress: Progress | None = None) -> dict[str, Any]:
    """Fetch ``remote`` into ``local`` (via a temporary file), checked against the server's sha256."""
    tmp = local.with_name(f".{local.name}.argus-part")
    digest = hashlib.sha256()
    size = 0
    try:
        with tmp.open("wb") as handle:
            for block in client.fs_download(remote):
                handle.write(block)
                digest.update(block)
                size += len(block)
                if progress is not None:
                    progress.update(len(block))
        expected = client.fs_stat(remote, sha256=True).get("sha256")
        if expected != digest.hexdigest():
            raise click.ClickException(f"{remote}: the download's sha256 {digest.hexdigest()} "
                                       f"differs from the server's {expected}; copy it again")
        os.replace(tmp, local)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return {"path": remote, "size": size, "sha256": digest.hexdigest()}


def local_files(root: Path) -> Iterator[tuple[Path, str]]:
    """(file, path relative to ``root``) of every regular file below ``root``; links skipped."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                yield path, path.relative_to(root).as_posix()


def remote_files(client: ArgusClient, remote: str, prefix: str = "") -> Iterator[tuple[str, str, int]]:
    """(remote path, path relative to ``remote``, size) of every file below a remote directory."""
    listing = client.fs_list(remote)
    if listing.get("truncated"):
        raise click.ClickException(f"argus:{remote} has more entries than one listing holds; "
                                   "copy its subdirectories one by one")
    for item in listing["items"]:
        rel = f"{prefix}{item['name']}"
        if item["type"] == "dir":
            yield from remote_files(client, item["path"], rel + "/")
        elif item["type"] == "file":
            yield item["path"], rel, item["size"]
