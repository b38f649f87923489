"""A user's view of the shared filesystem, confined on every operation.

The view has two areas: ``/`` is the user's workspace ``<shared>/users/<name>`` and ``/team``
is their team's ``<shared>/teams/<team>``. Every operation walks the path from the area's root
one component at a time with ``O_NOFOLLOW`` and acts relative to the parent directory's file
descriptor (``dir_fd``), so a symlink anywhere on the way is refused rather than followed, and
swapping a directory for a symlink between a check and the use gains nothing: there is no check
separate from the use. ``..`` is refused (``strict``, the HTTP API) or folded lexically inside
the view (SFTP clients send ``cd ..``); an absolute path is read inside the view, never on the
host.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from argus.errors import BadRequest, Conflict, NotFound, PathRefused

TEAM = "team"
MAX_PATH = 4096
MAX_NAME = 255
SNAPSHOTS = (".argus", "snapshots")
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Area:
    """One root of the view, with the modes of what is created in it."""

    root: Path
    file_mode: int = 0o640
    dir_mode: int = 0o750


@dataclass(frozen=True)
class Loc:
    """A parsed view path: the area and the components below its root."""

    area: str
    parts: tuple[str, ...]

    @property
    def view(self) -> str:
        return "/" + "/".join(((TEAM,) if self.area == TEAM else ()) + self.parts)

    @property
    def name(self) -> str:
        return self.parts[-1] if self.parts else ""


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str  # file | dir | link | other
    size: int
    mtime: float
    mode: int


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    return "link" if stat.S_ISLNK(mode) else "other"


def _open_dir(name: str, dir_fd: int, view: str) -> int:
    """Open the directory ``name`` below ``dir_fd``; a symlink there is refused, not followed."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP):
            with contextlib.suppress(OSError):
                if stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                    raise _os_error(OSError(errno.ELOOP, "symlink"), view) from exc
        raise _os_error(exc, view) from exc


def entry_of(name: str, st: os.stat_result) -> Entry:
    return Entry(name, _kind(st.st_mode), st.st_size, st.st_mtime, stat.S_IMODE(st.st_mode))


def _os_error(exc: OSError, view: str) -> Exception:
    if exc.errno in (errno.ELOOP, errno.EMLINK):
        return PathRefused(f"'{view}' goes through a symlink; symlinks are not followed here")
    if exc.errno == errno.ENOENT:
        return NotFound(f"'{view}' does not exist")
    if exc.errno == errno.ENOTDIR:
        return NotFound(f"'{view}': a part of the path is not a directory")
    if exc.errno == errno.EEXIST:
        return Conflict(f"'{view}' already exists")
    if exc.errno == errno.ENOTEMPTY:
        return Conflict(f"'{view}' is a directory that is not empty")
    if exc.errno == errno.EISDIR:
        return BadRequest(f"'{view}' is a directory")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return PathRefused(f"'{view}': permission denied")
    return exc


@contextlib.contextmanager
def os_errors(view: str) -> Iterator[None]:
    """Turn the OSErrors of one operation into the domain errors a person can act on."""
    try:
        yield
    except OSError as exc:
        raise _os_error(exc, view) from exc


class View:
    """What one user may reach: ``areas[""]`` (their workspace) and ``areas["team"]``."""

    def __init__(self, areas: dict[str, Area]):
        self.areas = areas

    def parse(self, path: str, *, strict: bool = True) -> Loc:
        if "\x00" in path or len(path) > MAX_PATH:
            raise BadRequest("a path may not contain NUL bytes or exceed 4096 characters")
        parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
        if ".." in parts:
            if strict:
                raise PathRefused(f"'{path}' contains '..'; name the path from / of your "
                                  "workspace (/team for your team's directory)")
            parts = [p for p in posixpath.normpath("/" + "/".join(parts)).split("/") if p]
        if any(len(p) > MAX_NAME for p in parts):
            raise BadRequest(f"'{path}': a name is longer than {MAX_NAME} characters")
        area = ""
        if parts and parts[0] == TEAM:
            area, parts = TEAM, parts[1:]
            if TEAM not in self.areas:
                raise NotFound("/team: you are in no team, so you have no team directory")
        return Loc(area, tuple(parts))

    @contextlib.contextmanager
    def _dir(self, area: str, parts: tuple[str, ...], view: str) -> Iterator[int]:
        """A descriptor of the directory ``parts`` below the area root, walked without symlinks."""
        with os_errors(view):
            fd = os.open(self.areas[area].root, DIR_FLAGS)
        try:
            for part in parts:
                nxt = _open_dir(part, fd, view)
                os.close(fd)
                fd = nxt
            yield fd
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def parent(self, loc: Loc) -> Iterator[int]:
        """The descriptor of ``loc``'s parent directory (``loc`` must not be an area root)."""
        if not loc.parts:
            raise PathRefused(f"'{loc.view}' is the root of your view; name something inside it")
        with self._dir(loc.area, loc.parts[:-1], loc.view) as fd:
            yield fd

    @contextlib.contextmanager
    def directory(self, loc: Loc) -> Iterator[int]:
        with self._dir(loc.area, loc.parts, loc.view) as fd:
            yield fd

    def stat(self, loc: Loc) -> Entry:
        if not loc.parts:
            with self.directory(loc) as fd:
                return entry_of(loc.area or "/", os.fstat(fd))
        with self.parent(loc) as pfd, os_errors(loc.view):
            return entry_of(loc.name, os.stat(loc.name, dir_fd=pfd, follow_symlinks=False))

    def listdir(self, loc: Loc) -> list[Entry]:
        with self.directory(loc) as fd, os_errors(loc.view):
            found = []
            with os.scandir(fd) as entries:
                for item in entries:
                    with contextlib.suppress(FileNotFoundError):
                        found.append(entry_of(item.name, item.stat(follow_symlinks=False)))
        if loc.area == "" and not loc.parts and TEAM in self.areas:
            found = [e for e in found if e.name != TEAM]
            with self.directory(Loc(TEAM, ())) as tfd:
                found.append(entry_of(TEAM, os.fstat(tfd)))
        return sorted(found, key=lambda e: e.name)

    def open(self, loc: Loc, flags: int) -> int:
        """A file descriptor of ``loc`` (never through a symlink); the caller closes it."""
        self._guard_write(loc, flags)
        mode = self.areas[loc.area].file_mode
        with self.parent(loc) as pfd, os_errors(loc.view):
            fd = os.open(loc.name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=pfd)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise BadRequest(f"'{loc.view}' is not a regular file")
        if flags & os.O_CREAT:
            os.fchmod(fd, mode)
        return fd

    def mkdir(self, loc: Loc, *, parents: bool = False) -> None:
        """Create a directory (and its missing parents with ``parents``), in the area's mode."""
        self._guard_write(loc, os.O_WRONLY)
        depths = range(1, len(loc.parts) + 1) if parents else [len(loc.parts)]
        for depth in depths:
            self._mkdir_one(Loc(loc.area, loc.parts[:depth]), exist_ok=parents)

    def _mkdir_one(self, loc: Loc, *, exist_ok: bool) -> None:
        mode = self.areas[loc.area].dir_mode
        with self.parent(loc) as pfd, os_errors(loc.view):
            try:
                os.mkdir(loc.name, 0o700, dir_fd=pfd)
            except FileExistsError:
                if not exist_ok:
                    raise
                os.close(os.open(loc.name, DIR_FLAGS, dir_fd=pfd))  # a directory, not a link
                return
            fd = os.open(loc.name, DIR_FLAGS, dir_fd=pfd)
            try:
                os.fchmod(fd, mode)  # exact mode (setgid included), whatever the umask
            finally:
                os.close(fd)

    def remove(self, loc: Loc, *, recursive: bool = False) -> int:
        """Delete a file, a link, or a directory (empty unless ``recursive``); bytes freed."""
        self._guard_write(loc, os.O_WRONLY)
        entry = self.stat(loc)
        with self.parent(loc) as pfd, os_errors(loc.view):
            if entry.kind != "dir":
                os.unlink(loc.name, dir_fd=pfd)
                return entry.size if entry.kind == "file" else 0
            if not recursive:
                os.rmdir(loc.name, dir_fd=pfd)
                return 0
            freed = tree_bytes(loc.name, pfd)
            shutil.rmtree(loc.name, dir_fd=pfd)  # symlink-attack safe on Linux
            return freed

    def rename(self, src: Loc, dst: Loc) -> None:
        self._guard_write(src, os.O_WRONLY)
        self._guard_write(dst, os.O_WRONLY)
        with self.parent(src) as sfd, self.parent(dst) as dfd, os_errors(src.view):
            os.rename(src.name, dst.name, src_dir_fd=sfd, dst_dir_fd=dfd)

    def _guard_write(self, loc: Loc, flags: int) -> None:
        writes = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND)
        if writes and loc.area == "" and loc.parts[:2] in (SNAPSHOTS, SNAPSHOTS[:1]):
            what = "holds the" if len(loc.parts) < 2 else "is inside an"
            raise PathRefused(f"'{loc.view}' {what} immutable code snapshots; tasks may still be "
                              "running them (an operator removes old snapshots)")


def tree_bytes(name: str, dir_fd: int) -> int:
    """Bytes of the regular files below ``name`` (relative to ``dir_fd``), links not followed."""
    try:
        fd = os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError:
        return 0
    return dir_bytes(fd)


def dir_bytes(fd: int) -> int:
    """Bytes below an open directory descriptor; closes it."""
    total = 0
    try:
        with os.scandir(fd) as entries:
            for item in entries:
                try:
                    st = item.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    total += st.st_size
                elif stat.S_ISDIR(st.st_mode):
                    total += tree_bytes(item.name, fd)
    finally:
        os.close(fd)
    return total


def path_bytes(path: Path) -> int:
    """Bytes of the regular files below ``path`` (0 when it does not exist)."""
    try:
        return dir_bytes(os.open(path, DIR_FLAGS))
    except OSError:
        return 0
