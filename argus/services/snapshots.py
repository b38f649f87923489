"""Code snapshots in a user's workspace: look one up, receive one (docs/data.md).

Snapshots live in ``<workspace>/.argus/snapshots/<sha256>/``; the file API and SFTP refuse to
change them (tasks may be running them). The body of an upload is spooled to
``<workspace>/.argus/tmp/`` first, so it counts against the team's quota like any file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from argus.authz import Principal, require_action
from argus.errors import BadRequest, NotFound
from argus.files import snapshot
from argus.files.confine import Loc, View
from argus.services.storage import Storage

DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")
TMP = (".argus", "tmp")


def _check(digest: str) -> None:
    if not DIGEST_RE.match(digest):
        raise BadRequest(f"'{digest[:80]}' is not a snapshot id; give the 64 hex digits of its sha256")


def _real(view: View, parts: tuple[str, ...]) -> Path:
    """The path of a directory of the workspace, made if missing, walked without symlinks."""
    view.mkdir(Loc("", parts), parents=True)
    return view.areas[""].root.joinpath(*parts)


def snapshots_dir(view: View) -> Path:
    return _real(view, TMP).parent / "snapshots"  # .argus itself is guarded against changes


def lookup(storage: Storage, who: Principal, digest: str) -> dict[str, Any]:
    require_action(who, "file.read")
    _check(digest)
    view = storage.view(who)
    path = snapshots_dir(view) / digest
    if not path.is_dir() or path.is_symlink():
        raise NotFound(f"no snapshot {digest[:16]}… in your workspace")
    return snapshot.describe(path)


def spool(storage: Storage, who: Principal, digest: str, declared: int | None) -> tuple[int, Path]:
    """A new, exclusive temp file for an upload's body: (descriptor, path)."""
    require_action(who, "file.write")
    _check(digest)
    if declared is not None:
        storage.check(who.team, declared, f"snapshot {digest[:16]}")
    view = storage.view(who)
    name = f"snapshot-{digest[:16]}-{os.urandom(6).hex()}.tar"
    tmp = _real(view, TMP)
    fd = view.open(Loc("", (*TMP, name)), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    return fd, tmp / name


def install(storage: Storage, who: Principal, digest: str, tar_path: Path) -> dict[str, Any]:
    view = storage.view(who)
    try:
        result = snapshot.install(tar_path, snapshots_dir(view), _real(view, TMP), digest,
                                  storage.settings.snapshot_max_bytes)
    finally:
        tar_path.unlink(missing_ok=True)
    storage.wrote(who.team, result["bytes"])
    return result
