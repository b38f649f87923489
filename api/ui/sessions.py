"""Browser sessions for the web UI: a random session id in an HttpOnly, SameSite=Strict cookie.

The cookie carries only the session id (32 random bytes); the Argus token the user signed in
with stays in this process's memory, so every page authenticates through the same
``Principals`` cache as the API (a revoked or expired token ends the session: at once when revoked
through this server, within ARGUS_AUTH_RECHECK_SECONDS through another).
A session ends at sign-out, after ``ARGUS_UI_SESSION_SECONDS``, or when its token expires,
whichever is first. Each session has its own CSRF token, checked on every form and on every
state-changing fetch (``X-CSRF-Token``). The store is bounded: past ``max_sessions`` the oldest
session is dropped. Sessions live in one server process: a restart signs everyone out.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

SESSION_COOKIE = "argus_session"
LOGIN_COOKIE = "argus_login_csrf"  # double-submit token of the sign-in form (no session yet)
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class UiSession:
    sid: str
    token: str
    csrf: str
    user: str
    expires_at: float


class SessionStore:
    def __init__(self, ttl_s: float, max_sessions: int = 10_000):
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self._items: OrderedDict[str, UiSession] = OrderedDict()
        self._lock = threading.Lock()

    def create(self, token: str, user: str, token_expires_at: float | None) -> UiSession:
        expires = time.time() + self.ttl_s
        if token_expires_at is not None:
            expires = min(expires, token_expires_at)
        session = UiSession(secrets.token_urlsafe(32), token, secrets.token_urlsafe(24), user, expires)
        with self._lock:
            self._purge()
            while len(self._items) >= self.max_sessions:
                self._items.popitem(last=False)
            self._items[session.sid] = session
        return session

    def get(self, sid: str | None) -> UiSession | None:
        if not sid:
            return None
        with self._lock:
            session = self._items.get(sid)
            if session is not None and session.expires_at <= time.time():
                del self._items[sid]
                return None
            return session

    def drop(self, sid: str | None) -> None:
        with self._lock:
            self._items.pop(sid or "", None)

    def _purge(self) -> None:
        now = time.time()
        for sid in [s.sid for s in self._items.values() if s.expires_at <= now]:
            del self._items[sid]


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two CSRF tokens (an absent one never matches)."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))
