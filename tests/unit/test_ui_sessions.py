"""The web UI's session store: in the database (so every process sees it), bounded, expiring,
never longer than the token it was opened with, and holding no secret in clear."""

from __future__ import annotations

import hashlib
import sqlite3
import time

from api.ui.sessions import SessionStore, csrf_of, same, session_key
from argus.db.engine import Database
from argus.services.identity import hash_token


def test_a_session_expires_with_its_ttl_or_its_token_whichever_is_first(db):
    store = SessionStore(db, ttl_s=3600)
    long = store.create("tok-a", "alice", None)
    assert time.time() + 3590 < long.expires_at <= time.time() + 3600
    short = store.create("tok-b", "bob", time.time() + 0.2)
    assert store.get(short.sid) == short
    assert store.cached(short.sid) == short  # read once, kept in memory
    time.sleep(0.3)
    assert store.cached(short.sid) is None and store.get(short.sid) is None
    assert store.get(long.sid) == long


def test_ids_and_csrf_tokens_are_random_and_the_store_is_bounded(db):
    store = SessionStore(db, ttl_s=60, max_sessions=3)
    made = [store.create(f"tok-{i}", "u", None) for i in range(5)]
    assert len({s.sid for s in made}) == 5 and len({s.csrf for s in made}) == 5
    assert all(len(s.sid) >= 40 and len(s.csrf) >= 40 for s in made)
    assert [store.get(s.sid) is not None for s in made] == [False, False, True, True, True]
    store.drop(made[4].sid)
    assert store.cached(made[4].sid) is None and store.get(made[4].sid) is None
    assert store.get(None) is None and store.get("") is None


def test_expired_sessions_are_purged_at_the_next_sign_in(db, tmp_path):
    store = SessionStore(db, ttl_s=0.1)
    store.create("tok-a", "alice", None)
    time.sleep(0.2)
    store.create("tok-b", "bob", None)
    with sqlite3.connect(tmp_path / "argus.db") as conn:
        assert [r[0] for r in conn.execute("SELECT user FROM ui_sessions")] == ["bob"]


def test_rows_hold_hashes_never_the_session_id_or_the_token(db, tmp_path):
    store = SessionStore(db, ttl_s=60)
    token = "argus_secret-token-value"
    session = store.create(token, "alice", None)
    with sqlite3.connect(tmp_path / "argus.db") as conn:
        rows = conn.execute("SELECT * FROM ui_sessions").fetchall()
        columns = [c[1] for c in conn.execute("PRAGMA table_info(ui_sessions)")]
    assert len(rows) == 1
    row = dict(zip(columns, rows[0]))
    assert row["id_hash"] == hashlib.sha256(session.sid.encode()).hexdigest() == session_key(session.sid)
    assert row["token_hash"] == hash_token(token) == session.token_hash
    for value in map(str, row.values()):
        assert session.sid not in value and token not in value and session.csrf not in value
    assert not hasattr(session, "token")  # the token is not kept in memory either


def test_another_process_sees_a_session_and_its_sign_out_within_the_cache_bound(db, tmp_path):
    other_db = Database(f"sqlite:///{tmp_path / 'argus.db'}")  # another process, same file
    try:
        here = SessionStore(db, ttl_s=60, cache_s=0.3)
        there = SessionStore(other_db, ttl_s=60, cache_s=0.3)
        session = here.create("tok", "alice", None)
        seen = there.get(session.sid)
        assert seen == session and same(seen.csrf, csrf_of(session.sid))
        assert here.get(session.sid) == session  # now cached here
        there.drop(session.sid)
        assert there.get(session.sid) is None  # at once where it was dropped
        assert here.cached(session.sid) == session  # the other may still hold it a moment ...
        time.sleep(0.35)
        assert here.get(session.sid) is None  # ... no longer than cache_s
        restarted = SessionStore(other_db, ttl_s=60)
        kept = here.create("tok", "alice", None)
        assert restarted.get(kept.sid) == kept  # a new process (a restart) knows it
    finally:
        other_db.dispose()


def test_csrf_comparison_rejects_missing_values():
    assert same("abc", "abc")
    assert not same("abc", "abd")
    assert not same(None, None) and not same("", "") and not same("abc", None)
