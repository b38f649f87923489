"""Which files a task may reference: its owner's workspace, its team's, or registered shared paths.

Roots: ``<shared root>/users/<owner>/``, ``<shared root>/teams/<team>/``, ``<shared root>/code``,
the configured verl trees and ``ARGUS_SHARED_PATHS``. Paths are resolved with every symlink
followed, so a link inside a workspace that points outside it is refused; ``..`` is refused
outright. The roots themselves are the server's: each is resolved at most every few seconds
(:func:`argus.settings.resolved`), the paths a spec names on every check.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from argus.settings import resolved
from taskspec import CustomTask, SpecIssue, VerlTask

PATH_MAX = 4096  # Linux's PATH_MAX and NAME_MAX: longer never opens, so say so at submit
NAME_MAX = 255


@functools.cache
def _c_realpath() -> Callable[[bytes, ctypes.Array], int | None] | None:
    """realpath(3) of the C library (looked up at the first use), or None where there is none."""
    try:
        function = ctypes.CDLL(None, use_errno=True).realpath
    except (OSError, AttributeError):
        return None
    function.argtypes, function.restype = [ctypes.c_char_p, ctypes.c_char_p], ctypes.c_void_p
    return function


def realpath(value: str) -> str:
    """``os.path.realpath(value)``, found by one call of the C library's realpath(3) when it can:
    the GIL is released once instead of once per component (an ``lstat`` each; under load every
    release is a hand-off between the submit threads, ~15 us of CPU, and ~13 % of a submit's).
    realpath(3) answers only for a path that exists, every symlink on the way resolvable, and
    then with the same path; anything else (a missing part, a loop, a refused look) is answered
    by ``os.path.realpath`` itself. tests/unit/test_paths.py compares the two."""
    function = _c_realpath()
    if function is not None:
        try:
            raw = os.fsencode(value)
        except UnicodeError:  # os.path.realpath says what is wrong with it
            raw = b""
        buffer = ctypes.create_string_buffer(PATH_MAX + 1)
        if raw and b"\0" not in raw and function(raw, buffer) is not None:  # C stops at a NUL
            return os.fsdecode(buffer.value)
    return os.path.realpath(value)


def allowed_roots(shared_root: Path, owner: str, team: str | None,
                  extra: list[Path | str]) -> list[Path]:
    roots = [shared_root / "users" / owner, shared_root / "code", *[Path(p) for p in extra]]
    if team:
        roots.append(shared_root / "teams" / team)
    return [resolved(r, realpath=True) for r in roots]


def referenced_paths(spec: CustomTask | VerlTask) -> list[tuple[str, str]]:
    """(field path, value) of every file or directory the spec names."""
    if isinstance(spec, CustomTask):
        return [("code", spec.code)]
    verl = spec.verl
    found = [("verl.code", verl.code)] if "/" in verl.code else []
    found += [(f"verl.train_files[{i}]", f) for i, f in enumerate(verl.train_files)]
    found += [(f"verl.val_files[{i}]", f) for i, f in enumerate(verl.val_files)]
    if verl.reward is not None:
        found.append(("verl.reward.path", verl.reward.path))
    if verl.model.startswith("/"):  # else a model hub id, not a file
        found.append(("verl.model", verl.model))
    return found


def _malformed(value: str) -> str | None:
    """Why ``value`` cannot be a path on any filesystem, before the filesystem is asked."""
    if "\x00" in value:
        return "contains a NUL character (\\0); remove it"
    if len(value.encode()) > PATH_MAX:
        return f"is {len(value.encode())} bytes long; a path has at most {PATH_MAX}"
    longest = max(PurePosixPath(value).parts, key=lambda p: len(p.encode()), default="")
    if len(longest.encode()) > NAME_MAX:
        return (f"has a component of {len(longest.encode())} bytes ('{longest[:40]}…'); "
                f"a file name has at most {NAME_MAX}")
    return None


SNAPSHOT_RE = re.compile(r"/users/[^/]+/\.argus/snapshots/([0-9a-f]{64})(?:/|$)")


def snapshots_in(spec: CustomTask | VerlTask) -> dict[str, str]:
    """{field path: snapshot id} of every path that lies in a code snapshot (docs/data.md)."""
    found = {}
    for field, value in referenced_paths(spec):
        match = SNAPSHOT_RE.search(value)
        if match:
            found[field] = match.group(1)
    return found


def check_path(field: str, value: str, roots: list[Path]) -> SpecIssue | None:
    malformed = _malformed(value)
    if malformed:
        shown = value if len(value) <= 80 else value[:80] + "…"
        return SpecIssue(field, f"'{shown!s}' {malformed}".replace("\x00", "\\0"))
    if ".." in PurePosixPath(value).parts:
        return SpecIssue(field, f"'{value}' contains '..'; write the absolute path without it")
    if not value.startswith("/"):
        return SpecIssue(field, f"'{value}' is not an absolute path; use a path on the shared "
                         "filesystem inside your workspace or your team's")
    real = Path(realpath(value))
    if any(real == root or real.is_relative_to(root) for root in roots):
        return None
    via = f" (it resolves to '{real}' through a symlink)" if str(real) != os.path.normpath(value) else ""
    allowed = ", ".join(str(r) for r in roots)
    return SpecIssue(field, f"'{value}' is outside the paths this task may use{via}; "
                     f"allowed: {allowed}")


def check_spec_paths(spec: CustomTask | VerlTask, roots: list[Path]) -> list[SpecIssue]:
    issues = [check_path(field, value, roots) for field, value in referenced_paths(spec)]
    return [i for i in issues if i is not None]
