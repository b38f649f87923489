"""Teams, users and API tokens. Tokens are shown once and stored only as a sha256 hash.

Every function takes the database explicitly and the acting principal where a permission
applies; the permission table itself is in :mod:`argus.authz`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from argus.authz import GRANTABLE, ROLES, TEAM_ADMIN_GRANTS, Principal, Scope, require, require_action
from argus.db import audit, epochs
from argus.db.audit import RequestAudit
from argus.db.engine import Database
from argus.db.migrate import upgrade
from argus.db.models import ApiToken, Grant, Task, Team, User
from argus.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from argus.states import ACTIVE

TOKEN_PREFIX = "argus_"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
DURATION_RE = re.compile(r"^(\d+)([smhdw])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
LAST_USED_GRANULARITY_S = 60.0  # do not write on every request


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_duration(text: str) -> float:
    """'90d', '12h', '30m', '2w' -> seconds."""
    match = DURATION_RE.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise BadRequest(f"'{text}' is not a duration; write a number and a unit: 30m, 12h, 90d, 2w")
    return int(match.group(1)) * UNITS[match.group(2)]


def _check_name(kind: str, name: str) -> None:
    if not NAME_RE.match(name):
        raise BadRequest(f"'{name}' is not a {kind} name; use lower-case letters, digits, "
                         "'.', '_' and '-' (64 at most)")


def user_view(user: User, grants: list[str] | None = None) -> dict[str, Any]:
    return {"name": user.name, "team": user.team, "role": user.role, "disabled": user.disabled,
            "created_at": user.created_at, "created_by": user.created_by, "grants": grants or []}


def _grants_of(session, name: str) -> list[str]:  # noqa: ANN001
    return list(session.scalars(select(Grant.action).where(Grant.user == name).order_by(Grant.action)))


def _grant_target(session, actor: Principal, name: str, action: str) -> User:  # noqa: ANN001
    if action not in GRANTABLE:
        raise BadRequest(f"'{action}' cannot be granted; grantable: {', '.join(sorted(GRANTABLE))}")
    user = session.get(User, name)
    if user is None:
        raise NotFound(f"user '{name}' does not exist")
    require(actor, "user.grant", owner=None, team=user.team, target=f"user/{name}")
    return user


def grant(db: Database, actor: Principal, name: str, action: str,
          audit: RequestAudit | None = None) -> dict[str, Any]:
    """Give ``name`` the extra permission ``action`` (e.g. task.logs: their team's logs)."""
    with db.write() as session:
        user = _grant_target(session, actor, name, action)
        if session.scalar(select(Grant).where(Grant.user == name, Grant.action == action)) is not None:
            raise Conflict(f"user '{name}' already has {action}")
        session.add(Grant(user=name, action=action, granted_by=actor.name, granted_at=time.time()))
        session.flush()
        if audit is not None:
            audit.record(session, target=f"user/{name}")
        return user_view(user, _grants_of(session, name))


def revoke_grant(db: Database, actor: Principal, name: str, action: str,
                 audit: RequestAudit | None = None) -> dict[str, Any]:
    with db.write() as session:
        user = _grant_target(session, actor, name, action)
        row = session.scalar(select(Grant).where(Grant.user == name, Grant.action == action))
        if row is None:
            raise NotFound(f"user '{name}' has no grant of {action}")
        session.delete(row)
        session.flush()
        if audit is not None:
            audit.record(session, target=f"user/{name}")
        return user_view(user, _grants_of(session, name))


def token_view(token: ApiToken) -> dict[str, Any]:
    return {"id": token.id, "user": token.user, "name": token.name, "prefix": token.prefix,
            "created_at": token.created_at, "created_by": token.created_by,
            "expires_at": token.expires_at, "revoked_at": token.revoked_at,
            "last_used_at": token.last_used_at}


def create_team(db: Database, actor: Principal, name: str, description: str = "", *,
                audit: RequestAudit | None = None) -> dict[str, Any]:
    require_action(actor, "team.create")
    _check_name("team", name)
    with db.write() as session:
        if session.get(Team, name) is not None:
            raise Conflict(f"team '{name}' already exists")
        session.add(Team(name=name, description=description, created_at=time.time()))
        if audit is not None:
            audit.record(session, target=f"team/{name}")
    return {"name": name, "description": description}


def list_teams(db: Database, actor: Principal) -> list[dict[str, Any]]:
    scope = require_action(actor, "team.read")
    with db.read() as session:
        query = select(Team).order_by(Team.name)
        if scope is not Scope.ALL:
            query = query.where(Team.name == actor.team)
        return [{"name": t.name, "description": t.description} for t in session.scalars(query)]


def get_team(db: Database, actor: Principal, name: str) -> dict[str, Any]:
    """Members and current GPU use (the quota view)."""
    require(actor, "team.read", team=name, target=f"team/{name}")
    with db.read() as session:
        team = session.get(Team, name)
        if team is None:
            raise NotFound(f"team '{name}' does not exist")
        members = session.scalars(select(User).where(User.team == name).order_by(User.name))
        active = [s.value for s in ACTIVE]
        gpus = session.scalar(
            select(func.coalesce(func.sum(Task.gpus_per_node * Task.nodes), 0.0))
            .where(Task.team == name, Task.status.in_(active))
        )
        return {"name": team.name, "description": team.description,
                "members": [user_view(u) for u in members], "gpus_in_use": float(gpus or 0.0)}


def create_user(db: Database, actor: Principal, name: str, *, team: str | None,
                role: str, audit: RequestAudit | None = None) -> dict[str, Any]:
    _check_name("user", name)
    if role not in ROLES:
        raise BadRequest(f"'{role}' is not a role; use one of: {', '.join(ROLES)}")
    require(actor, "user.create", team=team, target=f"team/{team}")
    if actor.role == "team-admin" and role not in TEAM_ADMIN_GRANTS:
        raise Forbidden(f"a team-admin may create only {' or '.join(TEAM_ADMIN_GRANTS)} users")
    with db.write() as session:
        user = _add_user(session, name, team, role, actor.name)
        if audit is not None:
            audit.record(session, target=f"user/{name}")
        return user_view(user)


def _add_user(session, name: str, team: str | None, role: str, by: str) -> User:  # noqa: ANN001
    if team is not None and session.get(Team, team) is None:
        raise NotFound(f"team '{team}' does not exist; create it first: argus team create {team}")
    if session.get(User, name) is not None:
        raise Conflict(f"user '{name}' already exists")
    user = User(name=name, team=team, role=role, disabled=False, created_at=time.time(),
                created_by=by)
    session.add(user)
    session.flush()
    return user


def list_users(db: Database, actor: Principal) -> list[dict[str, Any]]:
    scope = require_action(actor, "user.read")
    with db.read() as session:
        query = select(User).order_by(User.name)
        if scope is Scope.TEAM:
            query = query.where((User.team == actor.team) | (User.name == actor.name))
        elif scope is Scope.OWN:
            query = query.where(User.name == actor.name)
        users = session.scalars(query).all()
        grants: dict[str, list[str]] = {}
        for name, action in session.execute(select(Grant.user, Grant.action)
                                            .where(Grant.user.in_([u.name for u in users]))
                                            .order_by(Grant.action)):
            grants.setdefault(name, []).append(action)
        return [user_view(u, grants.get(u.name)) for u in users]


def create_token(db: Database, actor: Principal, user: str, *, name: str | None = None,
                 expires_in_s: float | None = None,
                 audit: RequestAudit | None = None) -> dict[str, Any]:
    """A new token for ``user``; the secret is in the answer and nowhere else."""
    with db.write() as session:
        target = session.get(User, user)
        if target is None:
            raise NotFound(f"user '{user}' does not exist")
        require(actor, "token.create", owner=user, target=f"user/{user}")
        created = _add_token(session, target.name, name, expires_in_s, actor.name)
        if audit is not None:  # never the secret
            audit.record(session, target=f"token/{user}/{created['name']}",
                         expires_at=created["expires_at"])
        return created


def _add_token(session, user: str, name: str | None, expires_in_s: float | None,  # noqa: ANN001
               by: str) -> dict[str, Any]:
    now = time.time()
    name = name or f"token-{int(now)}"
    _check_name("token", name)
    if session.scalar(select(ApiToken.id).where(ApiToken.user == user, ApiToken.name == name)):
        raise Conflict(f"user '{user}' already has a token named '{name}'; pick another --name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user=user, name=name, token_hash=hash_token(secret), prefix=secret[:10],
                   created_at=now, created_by=by,
                   expires_at=now + expires_in_s if expires_in_s else None)
    session.add(row)
    session.flush()
    return {**token_view(row), "token": secret}


def list_tokens(db: Database, actor: Principal, user: str | None = None) -> list[dict[str, Any]]:
    scope = require_action(actor, "token.read")
    with db.read() as session:
        query = select(ApiToken).order_by(ApiToken.id)
        if scope is not Scope.ALL:
            query = query.where(ApiToken.user == actor.name)
        if user:
            query = query.where(ApiToken.user == user)
        return [token_view(t) for t in session.scalars(query)]


def revoke_token(db: Database, actor: Principal, user: str, name: str, *,
                 audit: RequestAudit | None = None) -> dict[str, Any]:
    with db.write() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.user == user, ApiToken.name == name))
        if row is None:
            raise NotFound(f"user '{user}' has no token named '{name}'")
        require(actor, "token.revoke", owner=row.user, target=f"token/{user}/{name}")
        if row.revoked_at is None:
            row.revoked_at = time.time()
            if audit is not None:
                audit.record(session, target=f"token/{user}/{name}")
        return token_view(row)


NO_TOKEN = ("this call needs an API token: send 'Authorization: Bearer <token>' "
            "(the CLI reads ARGUS_TOKEN or its config file)")


def authenticate(db: Database, token: str | None) -> Principal:
    """The principal a bearer token stands for, or Unauthorized (missing, unknown, expired,
    revoked, disabled user)."""
    return _authenticate(db, token)[0]


def _authenticate(db: Database, token: str | None) -> tuple[Principal, float | None]:
    """The principal and the token's expiry."""
    if not token:
        raise Unauthorized(NO_TOKEN)
    return _authenticate_hash(db, hash_token(token))


def _authenticate_hash(db: Database, key: str) -> tuple[Principal, float | None]:
    """:func:`_authenticate` for a token known by its hash (a web UI session keeps only that)."""
    now = time.time()
    with db.read() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == key))
        user = session.get(User, row.user) if row is not None else None
        grants = frozenset(_grants_of(session, user.name)) if user is not None else frozenset()
    if row is None or user is None:
        raise Unauthorized("the API token is not valid")
    if row.revoked_at is not None:
        raise Unauthorized(f"the API token '{row.name}' was revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized(f"the API token '{row.name}' has expired; create a new one")
    if user.disabled:
        raise Unauthorized(f"user '{user.name}' is disabled")
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_GRANULARITY_S:
        with db.write() as session:
            session.get(ApiToken, row.id).last_used_at = now
    principal = Principal(name=user.name, role=user.role, team=user.team, token_name=row.name,
                          grants=grants)
    return principal, row.expires_at


@dataclass(frozen=True)
class _Known:
    principal: Principal
    expires_at: float | None  # the token's
    until: float  # monotonic: look again after this (last_used_at, a bound on staleness)
    local: int  # epochs.local_epoch() when it was filled
    epoch: int  # the database's identity epoch when it was filled


class Principals:
    """Authenticated tokens kept in memory, so a request with a known token reads nothing.

    An entry stands while the identity epoch (:mod:`argus.db.epochs`) has not moved since it
    was filled: a revocation through this process drops it at once; one through another
    server is seen when this one next reads the epoch, at most ``recheck_s`` later (one small
    read, not one per request). Only successful authentications are kept (a refused token is
    looked up every time), each at most ``LAST_USED_GRANULARITY_S`` (then it is read again and
    the token's ``last_used_at`` written), expiry checked on every use, ``size`` entries at most
    (least recently used go first)."""

    def __init__(self, db: Database, *, recheck_s: float = 0.5, size: int = 4096):
        self.db, self.recheck_s, self.size = db, recheck_s, size
        self._lock = threading.Lock()
        self._known: OrderedDict[str, _Known] = OrderedDict()
        self._epoch = 0  # the database's, as last read
        self._checked = float("-inf")  # monotonic time of that read

    def cached(self, token: str | None) -> Principal | None:
        """The principal from memory, or None when the database must answer (:meth:`authenticate`).
        Never touches the database: safe on the event loop."""
        return self.cached_hash(hash_token(token)) if token else None

    def cached_hash(self, key: str | None) -> Principal | None:
        """:meth:`cached` for a token known by its hash (:func:`hash_token`)."""
        if not key:
            return None
        now = time.monotonic()
        with self._lock:
            known = self._known.get(key)
            if known is None or now >= known.until or now - self._checked >= self.recheck_s \
                    or known.local != epochs.local_epoch() or known.epoch != self._epoch:
                return None
            if known.expires_at is not None and known.expires_at <= time.time():
                del self._known[key]
                return None
            self._known.move_to_end(key)
            return known.principal

    def authenticate(self, token: str | None) -> Principal:
        """Memory first; otherwise the database (and the epoch, when due). Blocks: call it from
        a worker thread."""
        if not token:
            raise Unauthorized(NO_TOKEN)
        return self.authenticate_hash(hash_token(token))

    def authenticate_hash(self, key: str) -> Principal:
        """:meth:`authenticate` for a token known by its hash: a web UI session keeps the hash,
        never the token, and authenticates through this same cache."""
        hit = self.cached_hash(key)
        if hit is not None:
            return hit
        if time.monotonic() - self._checked >= self.recheck_s:
            with self.db.read() as session:
                epoch = epochs.read(session)
            with self._lock:
                if epoch != self._epoch:
                    self._known.clear()
                self._epoch, self._checked = epoch, time.monotonic()
            hit = self.cached_hash(key)
            if hit is not None:
                return hit
        local, epoch = epochs.local_epoch(), self._epoch
        principal, expires_at = _authenticate_hash(self.db, key)
        with self._lock:
            if local == epochs.local_epoch():  # nothing in this process changed it meanwhile
                self._known[key] = _Known(
                    principal, expires_at, time.monotonic() + LAST_USED_GRANULARITY_S, local, epoch)
                while len(self._known) > self.size:
                    self._known.popitem(last=False)
        return principal


def init_admin(database_url: str, name: str, *, team: str | None = None) -> dict[str, Any]:
    """``argus admin init``: migrate the server's database, then :func:`bootstrap_admin`."""
    db = Database(database_url)
    try:
        upgrade(db)
        return bootstrap_admin(db, name, team=team)
    finally:
        db.dispose()


def bootstrap_admin(db: Database, name: str, *, team: str | None = None) -> dict[str, Any]:
    """The first admin and their token. Refused once any admin exists (no default password)."""
    _check_name("user", name)
    with db.write() as session:
        if session.scalar(select(User.name).where(User.role == "admin").limit(1)):
            raise Conflict("an admin already exists; ask them for a token (argus token create)")
        if team is not None and session.get(Team, team) is None:
            session.add(Team(name=team, description="", created_at=time.time()))
            session.flush()
        _add_user(session, name, team, "admin", "bootstrap")
        token = _add_token(session, name, "bootstrap", None, "bootstrap")
        audit.append(session, actor=name, token_name="bootstrap", source_ip="local",
                     action="admin.init", target=f"user/{name}", outcome="ok",
                     params={"team": team})
        return token
