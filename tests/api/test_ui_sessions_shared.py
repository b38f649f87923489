"""Web UI sessions live in the database: two apps over one SQLite file stand for two API
processes (or two servers); a browser signed in through one is signed in on the other, and a
sign-out through either ends the session on both (on the other within
ARGUS_AUTH_RECHECK_SECONDS, the bound of each process's session cache)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.ui.sessions import SESSION_COOKIE
from argus.db.engine import Database
from tests.api.conftest import FakeCluster, build_world
from tests.conftest import ServerThread

RECHECK_S = 0.5


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, str], Path]]:
    base, db, tokens = build_world(tmp_path)
    settings = base.model_copy(update={"auth_recheck_seconds": RECHECK_S})
    other = Database(settings.database_url)  # the second process's own engine
    app_a = create_app(settings, provider=FakeCluster(), db=db, embed_scheduler=False)
    app_b = create_app(settings, provider=FakeCluster(), db=other, embed_scheduler=False)
    with ServerThread(app_a) as a, ServerThread(app_b) as b:
        yield a.url, b.url, tokens, Path(settings.database_url.removeprefix("sqlite:///"))
    other.dispose()


def _sign_in(url: str, token: str) -> str:
    """The session id a browser gets from /ui/login."""
    with httpx.Client(base_url=url, timeout=10) as client:
        form = client.get("/ui/login")
        csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        answer = client.post("/ui/login", data={"token": token, "csrf": csrf})
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/"
        return answer.cookies[SESSION_COOKIE]


def _tasks_page(url: str, sid: str) -> httpx.Response:
    return httpx.get(f"{url}/ui/tasks", cookies={SESSION_COOKIE: sid}, timeout=10)


def _signed_in_as(response: httpx.Response) -> str | None:
    if response.status_code != 200:
        assert response.status_code == 303 and response.headers["location"].startswith("/ui/login")
        return None
    return response.text.split('<span id="me-name">', 1)[1].split("<", 1)[0]


def test_a_session_opened_on_one_process_works_on_another_and_a_sign_out_ends_it_on_both(two_servers):
    url_a, url_b, tokens, _path = two_servers
    sid = _sign_in(url_a, tokens["alice"])
    assert _signed_in_as(_tasks_page(url_a, sid)) == "alice"  # A now holds it in its cache
    page_b = _tasks_page(url_b, sid)
    assert _signed_in_as(page_b) == "alice"

    csrf = page_b.text.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]
    out = httpx.post(f"{url_b}/ui/logout", cookies={SESSION_COOKIE: sid}, data={"csrf": csrf}, timeout=10)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert _signed_in_as(_tasks_page(url_b, sid)) is None  # at once where it signed out

    signed_out = time.monotonic()
    while _signed_in_as(_tasks_page(url_a, sid)) is not None:
        assert time.monotonic() - signed_out < RECHECK_S + 1.0, "A still accepts a signed-out session"
        time.sleep(0.05)


def test_a_token_revoked_through_one_process_ends_its_session_on_the_other(two_servers):
    url_a, url_b, tokens, _path = two_servers
    sid = _sign_in(url_b, tokens["bob"])
    assert _signed_in_as(_tasks_page(url_a, sid)) == "bob"
    root = {"Authorization": f"Bearer {tokens['root']}"}
    revoked = httpx.post(f"{url_b}/v1/tokens/bob/main/revoke", headers=root, timeout=10)
    assert revoked.status_code == 200, revoked.text
    started = time.monotonic()
    while _signed_in_as(_tasks_page(url_a, sid)) is not None:
        assert time.monotonic() - started < RECHECK_S + 1.0, "A still accepts a revoked token's session"
        time.sleep(0.05)


def test_the_database_holds_neither_the_session_id_nor_the_token(two_servers):
    url_a, _url_b, tokens, path = two_servers
    sid = _sign_in(url_a, tokens["carol"])
    assert _signed_in_as(_tasks_page(url_a, sid)) == "carol"
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT * FROM ui_sessions").fetchall()
    assert len(rows) == 1
    assert not any(sid in str(v) or tokens["carol"] in str(v) for v in rows[0])
    for file in (path, path.with_name(path.name + "-wal")):  # nowhere in the files at all
        if file.exists():
            data = file.read_bytes()
            assert sid.encode() not in data and tokens["carol"].encode() not in data
