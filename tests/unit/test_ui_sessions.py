"""The web UI's session store: bounded, expiring, never longer than the token it was opened with."""

from __future__ import annotations

import time

from api.ui.sessions import SessionStore, same


def test_a_session_expires_with_its_ttl_or_its_token_whichever_is_first():
    store = SessionStore(ttl_s=3600)
    long = store.create("tok-a", "alice", None)
    assert time.time() + 3590 < long.expires_at <= time.time() + 3600
    short = store.create("tok-b", "bob", time.time() + 0.2)
    assert store.get(short.sid) == short
    time.sleep(0.3)
    assert store.get(short.sid) is None
    assert store.get(long.sid) == long


def test_ids_and_csrf_tokens_are_random_and_the_store_is_bounded():
    store = SessionStore(ttl_s=60, max_sessions=3)
    made = [store.create(f"tok-{i}", "u", None) for i in range(5)]
    assert len({s.sid for s in made}) == 5 and len({s.csrf for s in made}) == 5
    assert all(len(s.sid) >= 40 for s in made)
    assert [store.get(s.sid) is not None for s in made] == [False, False, True, True, True]
    store.drop(made[4].sid)
    assert store.get(made[4].sid) is None
    assert store.get(None) is None and store.get("") is None


def test_csrf_comparison_rejects_missing_values():
    assert same("abc", "abc")
    assert not same("abc", "abd")
    assert not same(None, None) and not same("", "") and not same("abc", None)
