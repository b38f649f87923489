"""Cached principals (argus/services/identity.py: Principals) and the identity epoch behind them
(argus/db/epochs.py, migration 0013): a known token reads nothing, and every way of taking a
right away — through this process, through another server, by plain SQL — is honoured."""

from __future__ import annotations

import sqlite3
import time

import pytest
from sqlalchemy import event

from argus.authz import Principal
from argus.db import epochs
from argus.db.engine import Database
from argus.db.migrate import upgrade
from argus.errors import Unauthorized
from argus.services import identity

ADMIN = Principal(name="root", role="admin", team=None, token_name="bootstrap")


@pytest.fixture
def world(tmp_path):
    url = f"sqlite:///{tmp_path / 'argus.db'}"
    db = Database(url)
    upgrade(db)
    identity.bootstrap_admin(db, "root")
    identity.create_user(db, ADMIN, "alice", team=None, role="user")
    token = identity.create_token(db, ADMIN, "alice", name="main")["token"]
    other = Database(url)  # another server on the same database
    yield db, other, token, tmp_path / "argus.db"
    db.dispose()
    other.dispose()


def _statements(db: Database) -> list[str]:
    seen: list[str] = []
    for engine in {db.read_engine, db.write_engine}:
        event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def _epoch(path) -> int:  # noqa: ANN001
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT value FROM counters WHERE name = 'identity'").fetchone()[0]


def test_a_known_token_reads_nothing(world):
    db, _other, token, _path = world
    cache = identity.Principals(db, recheck_s=60)
    assert cache.authenticate(token).name == "alice"
    seen = _statements(db)
    for _ in range(100):
        assert cache.cached(token).name == "alice"
        assert cache.authenticate(token).name == "alice"
    assert seen == []


def test_a_revocation_through_this_process_is_seen_at_once(world):
    db, _other, token, _path = world
    cache = identity.Principals(db, recheck_s=60)
    cache.authenticate(token)
    identity.revoke_token(db, ADMIN, "alice", "main")
    assert cache.cached(token) is None
    with pytest.raises(Unauthorized, match="revoked"):
        cache.authenticate(token)


def test_a_revocation_through_another_server_is_seen_within_the_recheck(world):
    db, other, token, _path = world
    cache = identity.Principals(db, recheck_s=0.3)
    cache.authenticate(token)
    identity.revoke_token(other, ADMIN, "alice", "main")  # committed by "another server"
    time.sleep(0.35)
    assert cache.cached(token) is None
    with pytest.raises(Unauthorized, match="revoked"):
        cache.authenticate(token)


def test_a_grant_taken_away_by_another_server_is_dropped(world):
    db, other, token, _path = world
    identity.grant(db, ADMIN, "alice", "task.logs")
    cache = identity.Principals(db, recheck_s=0.3)
    assert "task.logs" in cache.authenticate(token).grants
    identity.revoke_grant(other, ADMIN, "alice", "task.logs")
    time.sleep(0.35)
    assert "task.logs" not in cache.authenticate(token).grants


def test_plain_sql_moves_the_epoch_but_last_used_does_not(world):
    _db, _other, _token, path = world
    before = _epoch(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE api_tokens SET last_used_at = 1 WHERE name = 'main'")
    assert _epoch(path) == before  # authentication's bookkeeping changes nobody's rights
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE api_tokens SET revoked_at = 1 WHERE name = 'main'")
    assert _epoch(path) == before + 1
    for sql in ("INSERT INTO grants (user, action, granted_by, granted_at) VALUES ('alice', 'x', 'root', 0)",
                "DELETE FROM grants WHERE action = 'x'", "UPDATE users SET role = 'user' WHERE name = 'alice'"):
        with sqlite3.connect(path) as conn:
            conn.execute(sql)
    assert _epoch(path) == before + 4


def test_writing_last_used_does_not_flush_the_cache(world):
    db, _other, token, _path = world
    local = epochs.local_epoch()
    identity.authenticate(db, token)  # first use: writes last_used_at
    assert epochs.local_epoch() == local
    identity.create_token(db, ADMIN, "alice", name="second")
    assert epochs.local_epoch() == local + 1


def test_an_expiring_token_is_refused_from_memory_too(world):
    db, _other, _token, _path = world
    short = identity.create_token(db, ADMIN, "alice", name="short", expires_in_s=1)["token"]
    cache = identity.Principals(db, recheck_s=60)
    assert cache.authenticate(short).name == "alice"
    time.sleep(1.05)
    assert cache.cached(short) is None
    with pytest.raises(Unauthorized, match="expired"):
        cache.authenticate(short)


def test_refusals_are_never_kept_and_recheck_zero_reads_every_time(world):
    db, _other, token, _path = world
    cache = identity.Principals(db, recheck_s=0)
    with pytest.raises(Unauthorized):
        cache.authenticate("argus_not-a-token")
    cache.authenticate(token)
    seen = _statements(db)
    assert cache.cached(token) is None
    cache.authenticate(token)
    assert any("api_tokens" in s for s in seen)


def test_the_cache_is_bounded(world):
    db, _other, _token, _path = world
    cache = identity.Principals(db, recheck_s=60, size=3)
    tokens = [identity.create_token(db, ADMIN, "alice", name=f"t{i}")["token"] for i in range(5)]
    for t in tokens:
        cache.authenticate(t)
    assert [cache.cached(t) is not None for t in tokens] == [False, False, True, True, True]
