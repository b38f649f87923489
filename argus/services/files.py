"""Files over HTTP: list, stat (with sha256), download, resumable upload, mkdir, delete.

Paths are read in the caller's view (``/`` their workspace, ``/team`` their team's directory)
and confined by :mod:`argus.files.confine` on every operation; ``..`` is refused.

A resumable upload appends chunks to ``/.argus/uploads/<key>.part`` in the uploader's workspace
(so it counts against the quota); each chunk names its ``offset``, which must equal the bytes
already received (else 409 with the offset to resume from). The last chunk carries ``final``
and the whole file's sha256: the server checks it, then renames the part into place.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from typing import Any

from argus.authz import Principal, require_action
from argus.errors import BadRequest, Conflict, NotFound, PathRefused
from argus.files.confine import Entry, Loc, View, os_errors
from argus.services.storage import Storage

READ_BLOCK = 1 << 20
MAX_LIST = 10_000  # entries one listing answers (then "truncated": true)
UPLOADS = (".argus", "uploads")


def entry_view(entry: Entry, view_path: str) -> dict[str, Any]:
    return {"name": entry.name, "path": view_path, "type": entry.kind, "size": entry.size,
            "mtime": entry.mtime, "mode": f"{entry.mode:o}"}


def _view(storage: Storage, who: Principal, action: str) -> View:
    require_action(who, action)
    return storage.view(who)


def listing(storage: Storage, who: Principal, path: str) -> dict[str, Any]:
    view = _view(storage, who, "file.read")
    loc = view.parse(path)
    entry = view.stat(loc)
    if entry.kind != "dir":
        return {"path": loc.view, "type": entry.kind, "items": [entry_view(entry, loc.view)],
                "truncated": False}
    found = view.listdir(loc)
    items = [entry_view(e, Loc(loc.area, (*loc.parts, e.name)).view if (loc.parts or loc.area)
                        else "/" + e.name) for e in found[:MAX_LIST]]
    return {"path": loc.view, "type": "dir", "items": items, "truncated": len(found) > MAX_LIST}


def _hash_fd(fd: int) -> str:
    digest = hashlib.sha256()
    os.lseek(fd, 0, os.SEEK_SET)
    while block := os.read(fd, READ_BLOCK):
        digest.update(block)
    return digest.hexdigest()


def stat(storage: Storage, who: Principal, path: str, *, sha256: bool = False) -> dict[str, Any]:
    view = _view(storage, who, "file.read")
    loc = view.parse(path)
    result = entry_view(view.stat(loc), loc.view)
    if sha256 and result["type"] == "file":
        fd = view.open(loc, os.O_RDONLY)
        try:
            result["sha256"] = _hash_fd(fd)
        finally:
            os.close(fd)
    return result


def open_download(storage: Storage, who: Principal, path: str) -> tuple[int, int, str]:
    """(descriptor, size, view path) of a file to stream; :func:`stream` closes it."""
    view = _view(storage, who, "file.read")
    loc = view.parse(path)
    if view.stat(loc).kind == "dir":
        raise BadRequest(f"'{loc.view}' is a directory; list it (GET /v1/fs/list) or copy it "
                         "with argus cp -r")
    fd = view.open(loc, os.O_RDONLY)
    return fd, os.fstat(fd).st_size, loc.view


def stream(fd: int) -> Iterator[bytes]:
    try:
        while block := os.read(fd, READ_BLOCK):
            yield block
    finally:
        os.close(fd)


def _part_of(loc: Loc) -> Loc:
    key = hashlib.sha256(f"{loc.area}:{loc.view}".encode()).hexdigest()[:40]
    return Loc("", (*UPLOADS, f"{key}.part"))


def _check_target(view: View, loc: Loc) -> None:
    if not loc.parts:
        raise BadRequest(f"'{loc.view}' is a directory root; name a file inside it")
    view._guard_write(loc, os.O_WRONLY)  # noqa: SLF001 - the snapshot guard, before any byte
    with contextlib.suppress(NotFound):
        kind = view.stat(loc).kind
        if kind == "dir":
            raise BadRequest(f"'{loc.view}' is a directory; upload to a file path inside it")
        if kind == "link":
            raise PathRefused(f"'{loc.view}' is a symlink; symlinks are not followed here "
                              "(delete it first to put a file there)")


def upload_offset(storage: Storage, who: Principal, path: str) -> dict[str, Any]:
    view = _view(storage, who, "file.write")
    loc = view.parse(path)
    try:
        size = view.stat(_part_of(loc)).size
    except NotFound:
        size = 0
    return {"path": loc.view, "offset": size}


def discard_upload(storage: Storage, who: Principal, path: str) -> dict[str, Any]:
    view = _view(storage, who, "file.write")
    loc = view.parse(path)
    try:
        freed = view.remove(_part_of(loc))
    except NotFound:
        freed = 0
    storage.wrote(who.team, -freed)
    return {"path": loc.view, "offset": 0, "discarded_bytes": freed}


@contextlib.contextmanager
def _part(view: View, loc: Loc) -> Iterator[int]:
    """The part file of an upload of ``loc``, locked against a second concurrent upload."""
    view.mkdir(Loc("", UPLOADS), parents=True)
    fd = view.open(_part_of(loc), os.O_RDWR | os.O_CREAT)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Conflict(f"another upload of '{loc.view}' is in progress; wait for it") from exc
        yield fd
    finally:
        os.close(fd)


def write_chunk(storage: Storage, who: Principal, path: str, offset: int, data: bytes, *,
                final: bool = False, sha256: str | None = None) -> dict[str, Any]:
    """Append one chunk at ``offset``; with ``final`` check the sha256 and put the file in place."""
    view = _view(storage, who, "file.write")
    loc = view.parse(path)
    _check_target(view, loc)
    if final and sha256 is not None and len(sha256) != 64:
        raise BadRequest("sha256: give the 64 hex digits of the whole file's sha256")
    with _part(view, loc) as fd:
        size = os.fstat(fd).st_size
        if offset != size:
            raise Conflict(f"the upload of '{loc.view}' is at byte {size}, not {offset}; resume "
                           f"from {size} (argus cp resumes on its own)",
                           details=[{"path": loc.view, "offset": size}])
        storage.check(who.team, len(data), f"upload of '{loc.view}'")
        _pwrite_all(fd, data, offset)
        storage.wrote(who.team, len(data))
        key = "/".join(_part_of(loc).parts)
        storage.hashes.add(key, offset, data)
        result: dict[str, Any] = {"path": loc.view, "offset": offset + len(data), "complete": False}
        if final:
            known = storage.hashes.take(key, offset + len(data))
            result.update(_finish(view, loc, fd, sha256, known))
        return result


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        done = os.pwrite(fd, view, offset)
        view, offset = view[done:], offset + done


def _finish(view: View, loc: Loc, fd: int, sha256: str | None, known: str | None) -> dict[str, Any]:
    os.fsync(fd)
    actual = known or _hash_fd(fd)  # the running hash, else read the part again
    part = _part_of(loc)
    if sha256 is not None and actual != sha256.lower():
        view.remove(part)
        raise BadRequest(f"the upload of '{loc.view}' arrived with sha256 {actual}, not "
                         f"{sha256.lower()}; it was discarded: upload it again",
                         details=[{"path": loc.view, "sha256": actual}])
    if len(loc.parts) > 1:
        view.mkdir(Loc(loc.area, loc.parts[:-1]), parents=True)
    view.rename(part, loc)
    return {"complete": True, "sha256": actual, "size": os.fstat(fd).st_size}


def mkdir(storage: Storage, who: Principal, path: str, *, parents: bool = True) -> dict[str, Any]:
    view = _view(storage, who, "file.write")
    loc = view.parse(path)
    view.mkdir(loc, parents=parents)
    return entry_view(view.stat(loc), loc.view)


def delete(storage: Storage, who: Principal, path: str, *, recursive: bool = False) -> dict[str, Any]:
    view = _view(storage, who, "file.write")
    loc = view.parse(path)
    freed = view.remove(loc, recursive=recursive)
    storage.wrote(who.team, -freed)
    return {"path": loc.view, "deleted": True, "bytes": freed}


def rename(storage: Storage, who: Principal, src: str, dst: str) -> dict[str, Any]:
    view = _view(storage, who, "file.write")
    a, b = view.parse(src), view.parse(dst)
    with os_errors(b.view):
        view.rename(a, b)
    return {"from": a.view, "to": b.view}
