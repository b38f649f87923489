"""Browser sessions for the web UI: a random session id in an HttpOnly, SameSite=Strict cookie.

The cookie carries only the session id (32 random bytes). The database keeps one row per session
(``ui_sessions``, migration 0014), keyed by the sha256 of the id and holding the sha256 of the
Argus token the user signed in with: neither the id nor the token is stored anywhere. Every API
process and every server on the same database therefore knows every session, and sessions
survive a restart. Every page authenticates the token's hash through the same ``Principals``
cache as the API (a revoked or expired token ends the session: at once when revoked through
this process, within ARGUS_AUTH_RECHECK_SECONDS through another).

A session ends at sign-out, after ``ARGUS_UI_SESSION_SECONDS``, or when its token expires,
whichever is first. A process keeps a session it has read in memory for ``cache_s``
(ARGUS_AUTH_RECHECK_SECONDS, 0.5 s by default) so a page costs no database read: a sign-out
ends the session at once in the process that handled it and within that bound in the others.
Each session's CSRF token is derived from its id (HMAC-SHA256; stored nowhere, the same in
every process), checked on every form and on every state-changing fetch (``X-CSRF-Token``).
The table is bounded: expired rows go at each sign-in, and past ``max_sessions`` the oldest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import delete, func, select

from argus.db.engine import Database
from argus.db.models import UiSessionRow as SessionRow
from argus.services.identity import hash_token

SESSION_COOKIE = "argus_session"
LOGIN_COOKIE = "argus_login_csrf"  # double-submit token of the sign-in form (no session yet)
CSRF_HEADER = "x-csrf-token"
CSRF_LABEL = b"argus-ui-csrf"


@dataclass(frozen=True)
class UiSession:
    sid: str
    token_hash: str  # :func:`argus.services.identity.hash_token` of the token signed in with
    csrf: str
    user: str
    expires_at: float


def session_key(sid: str) -> str:
    """The row's key: the sha256 of the session id (the id itself stays in the cookie)."""
    return hashlib.sha256(sid.encode()).hexdigest()


def csrf_of(sid: str) -> str:
    """The session's CSRF token: unguessable without the id, and the id cannot be had from it."""
    digest = hmac.new(sid.encode(), CSRF_LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class SessionStore:
    """Sessions in the database, read through a short per-process cache.

    :meth:`create`, :meth:`get` and :meth:`drop` block (they use the database): call them from a
    worker thread. :meth:`cached` never touches the database: safe on the event loop."""

    def __init__(self, db: Database, ttl_s: float, *, max_sessions: int = 10_000,
                 cache_s: float = 0.5, cache_size: int = 4096):
        self.db, self.ttl_s, self.max_sessions = db, ttl_s, max_sessions
        self.cache_s, self.cache_size = cache_s, cache_size
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, tuple[UiSession, float]] = OrderedDict()  # key -> (s, until)
        self._drops = 0  # moves on every drop: a read that overlapped one is not kept

    def create(self, token: str, user: str, token_expires_at: float | None) -> UiSession:
        now = time.time()
        expires = now + self.ttl_s
        if token_expires_at is not None:
            expires = min(expires, token_expires_at)
        sid = secrets.token_urlsafe(32)
        session = UiSession(sid, hash_token(token), csrf_of(sid), user, expires)
        with self.db.write() as db:
            db.execute(delete(SessionRow).where(SessionRow.expires_at <= now))
            extra = (db.scalar(select(func.count()).select_from(SessionRow)) or 0) - self.max_sessions + 1
            if extra > 0:
                oldest = select(SessionRow.id_hash).order_by(SessionRow.created_at).limit(extra)
                db.execute(delete(SessionRow).where(SessionRow.id_hash.in_(oldest)))
            db.add(SessionRow(id_hash=session_key(sid), token_hash=session.token_hash, user=user,
                              created_at=now, expires_at=expires))
        return session

    def cached(self, sid: str | None) -> UiSession | None:
        """The session from memory, or None when the database must answer (:meth:`get`)."""
        if not sid:
            return None
        key = session_key(sid)
        with self._lock:
            hit = self._seen.get(key)
            if hit is None:
                return None
            session, until = hit
            if time.monotonic() >= until or session.expires_at <= time.time():
                del self._seen[key]
                return None
            self._seen.move_to_end(key)
            return session

    def get(self, sid: str | None) -> UiSession | None:
        """Memory first, otherwise the database; None for an unknown, ended or expired session."""
        hit = self.cached(sid)
        if hit is not None or not sid:
            return hit
        key, drops = session_key(sid), self._drops
        with self.db.read() as db:
            row = db.get(SessionRow, key)
            found = None if row is None else (row.token_hash, row.user, row.expires_at)
        if found is None or found[2] <= time.time():
            return None
        session = UiSession(sid, found[0], csrf_of(sid), found[1], found[2])
        with self._lock:
            if self.cache_s > 0 and drops == self._drops:  # no sign-out raced this read
                self._seen[key] = (session, time.monotonic() + self.cache_s)
                while len(self._seen) > self.cache_size:
                    self._seen.popitem(last=False)
        return session

    def drop(self, sid: str | None) -> None:
        """End a session: its row goes, and this process forgets it at once."""
        if not sid:
            return
        key = session_key(sid)
        with self.db.write() as db:
            db.execute(delete(SessionRow).where(SessionRow.id_hash == key))
        with self._lock:
            self._seen.pop(key, None)
            self._drops += 1


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two CSRF tokens (an absent one never matches)."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))
