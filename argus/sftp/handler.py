"""The SFTP file operations of one signed-in user, on their confined view.

``/`` is their workspace, ``/team`` their team's directory; every path of every operation goes
through :class:`argus.files.confine.View` (no symlink followed, nothing outside reachable).
Every write (on close, with the bytes written), rename, delete, mkdir and rmdir is appended to
the hash-chained audit trail, refused ones included.
"""

from __future__ import annotations

import errno
import logging
import os
import posixpath
import stat as stat_mod
from collections.abc import Callable
from typing import Any

import paramiko
from paramiko.sftp import SFTP_FAILURE, SFTP_NO_SUCH_FILE, SFTP_OK, SFTP_OP_UNSUPPORTED, \
    SFTP_PERMISSION_DENIED

from argus.authz import Principal, allows
from argus.errors import ArgusError, Forbidden, NotFound
from argus.files.confine import Entry, Loc, View
from argus.services.storage import Storage

log = logging.getLogger(__name__)
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class Session:
    """Who is signed in, their view, and where audit entries go."""

    def __init__(self, storage: Storage, who: Principal, source_ip: str):
        self.storage = storage
        self.who = who
        self.source_ip = source_ip
        self.view: View = storage.view(who)
        self.quota = storage.quota(who.team)

    def may_write(self) -> bool:
        return allows(self.who, "file.write", owner=self.who.name)

    def audit(self, action: str, loc: Loc, outcome: str = "ok", **params: Any) -> None:
        try:
            self.storage.record(self.who, action, f"file/{self.who.name}{loc.view}",
                                outcome=outcome, source_ip=self.source_ip, path=loc.view,
                                **params)
        except Exception:  # noqa: BLE001 - an audit failure is logged loudly, never hidden
            log.exception("could not write the audit entry of %s %s", action, loc.view)
            raise


def attrs(entry: Entry) -> paramiko.SFTPAttributes:
    out = paramiko.SFTPAttributes()
    kind = {"file": stat_mod.S_IFREG, "dir": stat_mod.S_IFDIR, "link": stat_mod.S_IFLNK}
    out.st_mode = kind.get(entry.kind, stat_mod.S_IFREG) | entry.mode
    out.st_size = entry.size
    out.st_mtime = out.st_atime = int(entry.mtime)
    out.st_uid = out.st_gid = 0
    out.filename = entry.name
    return out


def code_of(exc: BaseException) -> int:
    if isinstance(exc, NotFound):
        return SFTP_NO_SUCH_FILE
    if isinstance(exc, Forbidden):
        return SFTP_PERMISSION_DENIED
    if isinstance(exc, OSError) and exc.errno is not None:
        return paramiko.SFTPServer.convert_errno(exc.errno)
    return SFTP_FAILURE


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run an SFTP operation; turn domain and OS errors into SFTP status codes."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ArgusError, OSError) as exc:
            log.info("sftp %s refused: %s", fn.__name__, getattr(exc, "message", exc))
            return code_of(exc)

    wrapper.__name__ = fn.__name__
    return wrapper


class Handle(paramiko.SFTPHandle):
    def __init__(self, session: Session, loc: Loc, fd: int, flags: int):
        super().__init__(flags)
        self.session, self.loc, self.fd = session, loc, fd
        self.written = 0
        self.refused = ""

    def read(self, offset: int, length: int) -> bytes | int:
        try:
            return os.pread(self.fd, length, offset)
        except OSError as exc:
            return code_of(exc)

    def write(self, offset: int, data: bytes) -> int:
        s = self.session
        try:
            s.storage.meter.check(s.who.team, s.quota, len(data), f"sftp write of '{self.loc.view}'")
            os.pwrite(self.fd, data, offset)
        except (ArgusError, OSError) as exc:
            self.refused = getattr(exc, "message", str(exc))
            return code_of(exc)
        self.written += len(data)
        s.storage.wrote(s.who.team, len(data))
        return SFTP_OK

    def stat(self) -> paramiko.SFTPAttributes | int:
        try:
            st = os.fstat(self.fd)
        except OSError as exc:
            return code_of(exc)
        return attrs(Entry(self.loc.name, "file", st.st_size, st.st_mtime, stat_mod.S_IMODE(st.st_mode)))

    def chattr(self, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_OK  # modes and owners are Argus's (docs/data.md); times are not kept

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass
        if self.written or self.refused:
            outcome = "ok" if not self.refused else "error quota"
            self.session.audit("sftp.write", self.loc, outcome, bytes=self.written,
                               **({"refused": self.refused} if self.refused else {}))
        super().close()


class ArgusSftp(paramiko.SFTPServerInterface):
    """paramiko calls these with the client's paths; each maps into the session's view."""

    def __init__(self, server: Any, *args: Any, **kwargs: Any):
        super().__init__(server, *args, **kwargs)
        self.s: Session = server.session

    def _loc(self, path: str) -> Loc:
        return self.s.view.parse(path, strict=False)

    def canonicalize(self, path: str) -> str:
        return posixpath.normpath("/" + path.replace("\\", "/")).replace("//", "/")

    @guarded
    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes]:
        return [attrs(e) for e in self.s.view.listdir(self._loc(path))]

    @guarded
    def stat(self, path: str) -> paramiko.SFTPAttributes:
        return attrs(self.s.view.stat(self._loc(path)))

    lstat = stat

    @guarded
    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes) -> Handle:
        loc = self._loc(path)
        if flags & WRITE_FLAGS:
            self._may_write("sftp.write", loc)
            self.s.quota = self.s.storage.quota(self.s.who.team)  # a changed quota applies now
        try:
            fd = self.s.view.open(loc, flags)
        except ArgusError as exc:
            if flags & WRITE_FLAGS:
                self.s.audit("sftp.write", loc, "denied" if isinstance(exc, Forbidden) else "error",
                             reason=exc.message)
            raise
        return Handle(self.s, loc, fd, flags)

    def _may_write(self, action: str, loc: Loc) -> None:
        if not self.s.may_write():
            self.s.audit(action, loc, "denied")
            raise Forbidden(f"{self.s.who.name} (role {self.s.who.role}) may not file.write")

    def _change(self, action: str, loc: Loc, op: Callable[[], Any], **params: Any) -> int:
        self._may_write(action, loc)
        try:
            result = op()
        except ArgusError as exc:
            self.s.audit(action, loc, "denied" if isinstance(exc, Forbidden) else "error",
                         reason=exc.message, **params)
            raise
        freed = result if isinstance(result, int) else 0
        if freed:
            self.s.storage.wrote(self.s.who.team, -freed)
        self.s.audit(action, loc, "ok", **params, **({"bytes": freed} if freed else {}))
        return SFTP_OK

    @guarded
    def remove(self, path: str) -> int:
        loc = self._loc(path)
        return self._change("sftp.remove", loc, lambda: self._remove_file(loc))

    def _remove_file(self, loc: Loc) -> int:
        if self.s.view.stat(loc).kind == "dir":
            raise OSError(errno.EISDIR, "is a directory")
        return self.s.view.remove(loc)

    @guarded
    def rename(self, oldpath: str, newpath: str) -> int:
        src, dst = self._loc(oldpath), self._loc(newpath)
        return self._change("sftp.rename", src, lambda: self.s.view.rename(src, dst), to=dst.view)

    posix_rename = rename

    @guarded
    def mkdir(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        loc = self._loc(path)
        return self._change("sftp.mkdir", loc, lambda: self.s.view.mkdir(loc))

    @guarded
    def rmdir(self, path: str) -> int:
        loc = self._loc(path)
        return self._change("sftp.rmdir", loc, lambda: self._rmdir(loc))

    def _rmdir(self, loc: Loc) -> int:
        if self.s.view.stat(loc).kind != "dir":
            raise OSError(errno.ENOTDIR, "not a directory")
        return self.s.view.remove(loc)

    @guarded
    def chattr(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        self.s.view.stat(self._loc(path))
        return SFTP_OK

    def readlink(self, path: str) -> int:
        return SFTP_OP_UNSUPPORTED  # where a link points is not shown (it may be outside)

    def symlink(self, target_path: str, path: str) -> int:
        return SFTP_OP_UNSUPPORTED  # no links: they are the classic way out of a chroot
