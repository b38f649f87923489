"""Content-addressed code snapshots: what ``argus submit`` uploads when code is only local.

A snapshot is the set of regular files below a directory (or one file), minus what
``.gitignore`` / ``.argusignore`` exclude (and ``.git/``); symlinks are left out. Its id is
``sha256`` of the manifest: one line ``<path>\\0<x|->\\0<sha256 of the file>\\n`` per file in path
order (``x``: executable). The same tree always has the same id, so a second upload is skipped.

The CLI packs the files into a tar with normalised metadata; the server (:func:`install`)
unpacks only regular files and directories with safe names, recomputes the id from what it
unpacked, and renames it into ``<workspace>/.argus/snapshots/<id>/`` read-only.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import pathspec

from argus.errors import BadRequest, TooLarge
from argus.files.sizes import fmt_bytes

IGNORE_FILES = (".gitignore", ".argusignore")
ALWAYS_SKIP = {".git", ".argus", "__pycache__"}
BLOCK = 1 << 20
MAX_FILES = 100_000


@dataclass(frozen=True)
class Item:
    rel: str
    path: Path
    size: int
    executable: bool


def _spec(directory: Path) -> pathspec.PathSpec | None:
    lines: list[str] = []
    for name in IGNORE_FILES:
        try:
            lines += (directory / name).read_text(errors="replace").splitlines()
        except OSError:
            continue
    return pathspec.GitIgnoreSpec.from_lines(lines) if lines else None


def _ignored(rel: str, is_dir: bool, specs: list[tuple[str, pathspec.PathSpec]]) -> bool:
    for base, spec in specs:
        if base and not rel.startswith(base + "/"):
            continue
        sub = rel[len(base) + 1:] if base else rel
        if spec.match_file(sub + ("/" if is_dir else "")):
            return True
    return False


def collect(root: Path) -> list[Item]:
    """The files of a snapshot of ``root`` (a directory or one file), in path order."""
    if root.is_file():
        st = root.stat()
        return [Item(root.name, root, st.st_size, bool(st.st_mode & stat.S_IXUSR))]
    items: list[Item] = []
    specs: list[tuple[str, pathspec.PathSpec]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        spec = _spec(here)
        if spec is not None:
            specs.append((rel_dir, spec))

        def rel(name: str) -> str:
            return f"{rel_dir}/{name}" if rel_dir else name

        dirnames[:] = sorted(d for d in dirnames if d not in ALWAYS_SKIP
                             and not (here / d).is_symlink() and not _ignored(rel(d), True, specs))
        for name in sorted(filenames):
            path = here / name
            st = path.lstat()
            if not stat.S_ISREG(st.st_mode) or _ignored(rel(name), False, specs):
                continue
            items.append(Item(rel(name), path, st.st_size, bool(st.st_mode & stat.S_IXUSR)))
            if len(items) > MAX_FILES:
                raise TooLarge(f"{root}: more than {MAX_FILES} files after the ignore rules; "
                               "exclude what the task does not need in .argusignore")
    return sorted(items, key=lambda i: i.rel)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def manifest_digest(entries: Iterable[tuple[str, bool, str]]) -> str:
    """The snapshot id of (path, executable, file sha256) entries."""
    digest = hashlib.sha256()
    for rel, executable, sha in sorted(entries):
        digest.update(f"{rel}\0{'x' if executable else '-'}\0{sha}\n".encode())
    return digest.hexdigest()


def snapshot_id(items: list[Item]) -> str:
    return manifest_digest((i.rel, i.executable, file_sha256(i.path)) for i in items)


def write_tar(items: list[Item], out: BinaryIO) -> None:
    """A tar of ``items`` with normalised owners, times and modes (0644/0755)."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for item in items:
            info = tarfile.TarInfo(item.rel)
            info.size = item.size
            info.mode = 0o755 if item.executable else 0o644
            info.mtime = 0
            with item.path.open("rb") as handle:
                tar.addfile(info, handle)


def _safe_name(name: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\x00" in name or not path.parts:
        raise BadRequest(f"snapshot: the entry '{name[:200]}' is not a relative path inside it")
    return path.as_posix()


def unpack(tar_path: Path, dest: Path, max_bytes: int) -> str:
    """Unpack regular files and directories into ``dest``; return the recomputed snapshot id."""
    entries: list[tuple[str, bool, str]] = []
    total = 0
    try:
        with tarfile.open(tar_path, mode="r:") as tar:
            for member in tar:
                name = _safe_name(member.name)
                if member.isdir():
                    (dest / name).mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isreg():
                    raise BadRequest(f"snapshot: '{name}' is not a regular file or directory "
                                     "(links and devices are not taken)")
                total += member.size
                if total > max_bytes:
                    raise TooLarge(f"snapshot: more than {fmt_bytes(max_bytes)} unpacked")
                executable = bool(member.mode & 0o100)
                entries.append((name, executable, _extract(tar, member, dest / name, executable)))
    except tarfile.TarError as exc:
        raise BadRequest(f"snapshot: the body is not a tar archive ({exc})") from exc
    return manifest_digest(entries)


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path, executable: bool) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    source = tar.extractfile(member)
    assert source is not None
    digest = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                 0o700 if executable else 0o600)
    with os.fdopen(fd, "wb") as out:
        while block := source.read(BLOCK):
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def freeze(root: Path) -> None:
    """Make a snapshot read-only: files 0444 (0555 executable), directories 0555."""
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            path = Path(dirpath) / name
            path.chmod(0o555 if path.stat().st_mode & stat.S_IXUSR else 0o444)
        for name in dirnames:
            (Path(dirpath) / name).chmod(0o555)
    root.chmod(0o555)


def install(tar_path: Path, snapshots: Path, scratch: Path, expected: str, max_bytes: int) -> dict:
    """Unpack, check the id, move into ``snapshots/<id>`` (kept if a twin got there first)."""
    final = snapshots / expected
    scratch.mkdir(parents=True, exist_ok=True)
    work = scratch / f"unpack-{os.getpid()}-{os.urandom(6).hex()}"
    work.mkdir(mode=0o700)
    try:
        actual = unpack(tar_path, work, max_bytes)
        if actual != expected:
            raise BadRequest(f"snapshot: its contents hash to {actual}, not {expected}; "
                             "the upload was altered or the client is broken")
        freeze(work)
        snapshots.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(work, final)
        except OSError:  # ENOTEMPTY/EEXIST: the same snapshot arrived meanwhile
            if not final.is_dir():
                raise
    finally:
        if work.exists():
            _force_rmtree(work)
    return describe(final)


def _force_rmtree(path: Path) -> None:
    for dirpath, _dirnames, _filenames in os.walk(path):
        os.chmod(dirpath, 0o700)
    shutil.rmtree(path, ignore_errors=True)


def describe(path: Path) -> dict:
    files = [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    return {"sha256": path.name, "path": str(path), "files": len(files),
            "bytes": sum(p.stat().st_size for p in files)}


def tar_bytes(items: list[Item]) -> bytes:
    """The tar in memory (small snapshots; the CLI spools larger ones to a temp file)."""
    buffer = io.BytesIO()
    write_tar(items, buffer)
    return buffer.getvalue()
