"""Workspaces on the shared filesystem and the storage they use.

``<shared>/users/<name>`` (0750) belongs to one user, ``<shared>/teams/<team>`` (2770: group
members may write, new entries keep the group) to a team. Both are owned by the user Argus runs
as; their group is ``ARGUS_WORKSPACE_GROUP`` (the group Ray workers run as) or the server
user's own. ``<shared>/users`` and ``<shared>/teams`` are 0711: passable, not listable.
docs/security.md explains the choice.
"""

from __future__ import annotations

import grp
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from argus.errors import BadRequest, QuotaExceeded, Unavailable
from argus.files.confine import Area, View, path_bytes
from argus.files.sizes import fmt_bytes
from argus.settings import Settings

USER_DIR_MODE = 0o750
TEAM_DIR_MODE = 0o2770
PARENT_MODE = 0o711
USER_FILE_MODE = 0o640
TEAM_FILE_MODE = 0o660


def user_dir(settings: Settings, name: str) -> Path:
    return settings.shared_dir / "users" / name


def team_dir(settings: Settings, team: str) -> Path:
    return settings.shared_dir / "teams" / team


def _gid(settings: Settings) -> int:
    if not settings.workspace_group:
        return -1
    try:
        return grp.getgrnam(settings.workspace_group).gr_gid
    except KeyError as exc:
        raise BadRequest(f"ARGUS_WORKSPACE_GROUP '{settings.workspace_group}' is not a group "
                         "on this host; create it or unset the setting") from exc


def _make(path: Path, mode: int, gid: int, *, force: bool = False) -> None:
    """Create ``path`` with ``mode`` (and group); an existing one is left alone unless ``force``."""
    if not force and path.is_dir():
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
        if gid != -1:
            os.chown(path, -1, gid)
        os.chmod(path, mode)  # after chown: chown clears setgid
    except OSError as exc:
        raise Unavailable(f"cannot create the workspace {path}: {exc.strerror}; check that "
                          "the shared root is mounted and writable by the server") from exc


def ensure_user(settings: Settings, name: str, *, force: bool = False) -> Path:
    """The user's workspace, created if missing (``force``: modes and group set again)."""
    gid = _gid(settings)
    _make(settings.shared_dir / "users", PARENT_MODE, -1, force=force)
    path = user_dir(settings, name)
    _make(path, USER_DIR_MODE, gid, force=force)
    return path


def ensure_team(settings: Settings, team: str, *, force: bool = False) -> Path:
    gid = _gid(settings)
    _make(settings.shared_dir / "teams", PARENT_MODE, -1, force=force)
    path = team_dir(settings, team)
    _make(path, TEAM_DIR_MODE, gid, force=force)
    return path


def view_for(settings: Settings, name: str, team: str | None) -> View:
    """The user's view: ``/`` their workspace, ``/team`` their team's directory."""
    areas = {"": Area(ensure_user(settings, name), USER_FILE_MODE, USER_DIR_MODE)}
    if team:
        areas["team"] = Area(ensure_team(settings, team), TEAM_FILE_MODE, TEAM_DIR_MODE)
    return View(areas)


class UsageMeter:
    """Bytes a team uses: its directory plus its members' workspaces.

    A walk is reused for ``ttl`` seconds; writes made through this process are added to it
    at once, so the quota holds between walks."""

    def __init__(self, settings: Settings, members: Callable[[str], list[str]]):
        self.settings = settings
        self.members = members
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, int]] = {}

    def measure(self, team: str) -> int:
        roots = [team_dir(self.settings, team),
                 *(user_dir(self.settings, m) for m in self.members(team))]
        return sum(path_bytes(root) for root in roots)

    def used(self, team: str) -> int:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(team)
            if cached and now - cached[0] < self.settings.storage_usage_ttl_seconds:
                return cached[1]
        used = self.measure(team)
        with self._lock:
            self._cache[team] = (now, used)
        return used

    def add(self, team: str, delta: int) -> None:
        with self._lock:
            if team in self._cache:
                ts, used = self._cache[team]
                self._cache[team] = (ts, max(0, used + delta))

    def check(self, team: str | None, quota: int | None, incoming: int, what: str) -> None:
        """Refuse ``incoming`` more bytes past the team's quota (413, with the numbers)."""
        if not team or quota is None or incoming <= 0:
            return
        used = self.used(team)
        if used + incoming > quota:
            raise QuotaExceeded(
                f"{what}: team '{team}' would exceed its storage quota of {fmt_bytes(quota)} "
                f"({fmt_bytes(used)} used, {fmt_bytes(incoming)} more needed); delete files "
                f"(argus rm) or ask an admin to raise it (argus team storage {team} --quota SIZE)",
                details=[{"team": team, "quota_bytes": quota, "used_bytes": used,
                          "incoming_bytes": incoming}])
