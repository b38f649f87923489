"""Workspaces and team storage quotas: who sees which directories, how much a team may hold.

:class:`Storage` is built once by the app factory (and by ``argus sftp``) and shared by the
file API and the SFTP server, so both measure and enforce the same quota.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import select

from argus.authz import Principal, require
from argus.db import audit
from argus.db.audit import RequestAudit
from argus.db.engine import Database
from argus.db.models import Team, User
from argus.errors import ArgusError, BadRequest, NotFound
from argus.files import workspaces
from argus.files.confine import View
from argus.files.sizes import fmt_bytes
from argus.files.running import RunningHashes
from argus.files.workspaces import UsageMeter
from argus.settings import Settings

log = logging.getLogger(__name__)


class Storage:
    def __init__(self, db: Database, settings: Settings):
        self.db = db
        self.settings = settings
        self.meter = UsageMeter(settings, self.members)
        self.hashes = RunningHashes()  # uploads in progress in this process

    def members(self, team: str) -> list[str]:
        with self.db.read() as session:
            return list(session.scalars(select(User.name).where(User.team == team)))

    def quota(self, team: str | None) -> int | None:
        if not team:
            return None
        with self.db.read() as session:
            row = session.get(Team, team)
            return row.storage_quota_bytes if row is not None else None

    def view(self, who: Principal) -> View:
        return workspaces.view_for(self.settings, who.name, who.team)

    def check(self, team: str | None, incoming: int, what: str) -> None:
        self.meter.check(team, self.quota(team), incoming, what)

    def wrote(self, team: str | None, delta: int) -> None:
        if team:
            self.meter.add(team, delta)

    def usage(self, team: str) -> dict[str, Any]:
        quota = self.quota(team)
        used = self.meter.used(team)
        return {"team": team, "quota_bytes": quota, "used_bytes": used,
                "free_bytes": None if quota is None else max(0, quota - used),
                "text": f"{fmt_bytes(used)} of {fmt_bytes(quota)}"}

    def set_quota(self, who: Principal, team: str, quota_bytes: int | None, *,
                  audit_entry: RequestAudit | None = None) -> dict[str, Any]:
        require(who, "team.storage", team=team, target=f"team/{team}")
        if quota_bytes is not None and quota_bytes < 0:
            raise BadRequest("quota_bytes: must be 0 or more (null: not limited)")
        with self.db.write() as session:
            row = session.get(Team, team)
            if row is None:
                raise NotFound(f"team '{team}' does not exist")
            row.storage_quota_bytes = quota_bytes
            if audit_entry is not None:
                audit_entry.record(session, target=f"team/{team}", quota_bytes=quota_bytes)
        return self.usage(team)

    def ensure_all(self) -> None:
        """Create the workspace of every user and team (those made before workspaces existed)."""
        with self.db.read() as session:
            users = list(session.scalars(select(User.name)))
            teams = list(session.scalars(select(Team.name)))
        try:
            for name in users:
                workspaces.ensure_user(self.settings, name, force=True)
            for team in teams:
                workspaces.ensure_team(self.settings, team, force=True)
        except (OSError, ArgusError) as exc:  # the server still serves; each workspace is made on first use
            log.error("cannot create workspaces under %s: %s", self.settings.shared_dir, exc)

    def record(self, who: Principal, action: str, target: str, *, outcome: str = "ok",
               source_ip: str = "", **params: Any) -> None:
        """An audit entry for a file operation that no API request wrote (SFTP)."""
        with self.db.write() as session:
            audit.append(session, actor=who.name, action=action, outcome=outcome, target=target,
                         params=params, token_name=who.token_name, source_ip=source_ip,
                         ts=time.time())
