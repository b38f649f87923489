"""PostgreSQL as a first-class database, against a real server the suite starts (tests/pgserver.py):
the URL mapping, the migrations, the append-only audit trail enforced by the database itself,
row claiming with FOR UPDATE SKIP LOCKED, and the API end to end."""

from __future__ import annotations

import threading

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from api.app import create_app
from api.ui.sessions import SessionStore, session_key
from argus.authz import Principal
from argus.control.loop import Scheduler
from argus.db import epochs
from argus.db.engine import Database, driver_url
from argus.db.migrate import current_revision, head_revision, upgrade
from argus.db.models import Base, Task
from argus.scheduling.planner import Admit
from argus.services import audit as audit_service
from argus.errors import Unauthorized
from argus.services.identity import Principals, bootstrap_admin, create_token, create_user
from argus.settings import Settings
from tests.conftest import ServerThread
from tests.fakeray import FakeProvider, FakeRay


@pytest.fixture
def pg(pg_url):
    db = Database(pg_url)
    upgrade(db)
    yield db
    db.dispose()


def test_the_url_names_the_installed_driver(pg_url):
    assert driver_url("postgresql://u@h:5432/d") == "postgresql+psycopg://u@h:5432/d"
    assert driver_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert driver_url("sqlite:///x.db") == "sqlite:///x.db"
    assert Database(pg_url).write_engine.dialect.driver == "psycopg"


def test_migrations_build_the_models_on_postgresql(pg):
    assert current_revision(pg) == head_revision()
    with pg.write_engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def _app(pg: Database, tmp_path, ray: FakeRay | None = None):  # noqa: ANN001, ANN202
    settings = Settings(state_dir=tmp_path / "state", shared_root=tmp_path / "shared", db_url=pg.url,
                        tick_seconds=0.1)
    (settings.shared_root / "users" / "admin" / "code").mkdir(parents=True)
    app = create_app(settings, provider=FakeProvider(ray or FakeRay()), db=pg, embed_scheduler=False)
    token = bootstrap_admin(pg, "admin")["token"]
    return app, settings, {"Authorization": f"Bearer {token}"}


def test_the_audit_trail_is_append_only_in_the_database(pg, tmp_path):
    app, _settings, headers = _app(pg, tmp_path)
    with ServerThread(app) as server:
        assert httpx.post(f"{server.url}/v1/teams", json={"name": "red"}, headers=headers).status_code == 201
    for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log",
                      "TRUNCATE audit_log",
                      # the upsert that would rewrite an entry, and a copy under a taken id
                      "INSERT INTO audit_log SELECT * FROM audit_log ORDER BY id LIMIT 1 "
                      "ON CONFLICT (id) DO UPDATE SET actor = 'mallory'",
                      "INSERT INTO audit_log SELECT * FROM audit_log ORDER BY id LIMIT 1"):
        with pytest.raises(DBAPIError, match="append-only"), pg.write() as session:
            session.execute(text(statement))
    assert audit_service.verify(pg)["ok"] is True


def test_concurrent_requests_keep_one_hash_chain(pg, tmp_path):
    app, _settings, headers = _app(pg, tmp_path)
    with ServerThread(app) as server:
        def create(i: int) -> None:
            for j in range(5):
                r = httpx.post(f"{server.url}/v1/teams", json={"name": f"t{i}-{j}"}, headers=headers)
                assert r.status_code == 201, r.text

        threads = [threading.Thread(target=create, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    result = audit_service.verify(pg)
    assert result["ok"] is True and result["entries"] >= 30, result


def test_claim_skips_a_row_another_transaction_holds(pg, tmp_path):
    """FOR UPDATE SKIP LOCKED: a claim does not wait behind a transaction that holds the task row
    (it is skipped this tick), and claims it once that transaction is over."""
    ray = FakeRay()
    app, settings, headers = _app(pg, tmp_path, ray)
    spec = {"kind": "custom", "name": "t", "code": str(settings.shared_root / "users" / "admin" / "code"),
            "command": ["python", "x.py"], "resources": {"nodes": 1, "cpus": 1}}
    with ServerThread(app) as server:
        task = httpx.post(f"{server.url}/v1/tasks", json=spec, headers=headers).json()
    scheduler = Scheduler(pg, settings, FakeProvider(ray))
    assert scheduler.lease.acquire()
    other = Database(pg.url)
    with other.write() as session:
        session.execute(select(Task).where(Task.id == task["id"]).with_for_update())
        done: list = []
        worker = threading.Thread(target=lambda: done.append(
            scheduler.admitter.claim(Admit(task["id"], ("w1",)), ray.address, None)))
        worker.start()
        worker.join(10)
        assert done == [None]  # returned at once, without waiting for the lock
    claimed = scheduler.admitter.claim(Admit(task["id"], ("w1",)), ray.address, None)
    assert claimed is not None and claimed[1] == 1
    with pg.read() as session:
        assert session.get(Task, task["id"]).status == "SUBMITTING"
    other.dispose()


def test_the_api_and_the_loop_on_postgresql(pg, tmp_path):
    ray = FakeRay()
    app, settings, headers = _app(pg, tmp_path, ray)
    spec = {"kind": "custom", "name": "t", "code": str(settings.shared_root / "users" / "admin" / "code"),
            "command": ["python", "x.py"], "resources": {"nodes": 1, "cpus": 1}}
    scheduler = Scheduler(pg, settings, FakeProvider(ray))
    with ServerThread(app) as server, httpx.Client(base_url=server.url, headers=headers) as http:
        ids = [http.post("/v1/tasks", json={**spec, "name": f"t{i}"}).json()["id"] for i in range(3)]
        waits = http.post("/v1/tasks", json={**spec, "resources": {"nodes": 5, "cpus": 1}}).json()["id"]
        scheduler.tick()
        scheduler.tick()
        assert {http.get(f"/v1/tasks/{i}").json()["status"] for i in ids} == {"RUNNING"}
        waiting = http.get(f"/v1/tasks/{waits}").json()  # the wait reasons' one write, on PostgreSQL
        assert waiting["status"] == "QUEUED" and waiting["reason"] not in ("", "queued"), waiting["reason"]
        for sid in list(ray.jobs):
            ray.end(sid, "SUCCEEDED", 0)
        scheduler.tick()
        assert {http.get(f"/v1/tasks/{i}").json()["status"] for i in ids} == {"SUCCEEDED"}
        assert http.get("/v1/audit/verify").json()["ok"] is True
        ready = http.get("/readyz").json()["checks"]
        assert ready["db"] == "ok" and ready["scheduler_lease"]["holder"] == scheduler.lease.holder
    scheduler.stop()


def test_a_task_list_cursor_walk_on_postgresql(pg, tmp_path):
    """Keyset pages (after / next_after) over HTTP on PostgreSQL: every matching task once, newest
    first, with tasks submitted between pages; a bad cursor is a 422 naming the field."""
    _app_, settings, headers = _app(pg, tmp_path)
    spec = {"kind": "custom", "name": "t", "code": str(settings.shared_root / "users" / "admin" / "code"),
            "command": ["python", "x.py"], "resources": {"nodes": 1, "cpus": 1}}
    with ServerThread(_app_) as server, httpx.Client(base_url=server.url, headers=headers) as http:
        ids = [http.post("/v1/tasks", json={**spec, "name": f"t{i}"}).json()["id"] for i in range(7)]
        for task_id in ids[::3]:
            assert http.post(f"/v1/tasks/{task_id}/cancel").status_code == 202
        for params in ({}, {"status": "QUEUED"}, {"status": "CANCELLED"}):
            expected = [t["id"] for t in http.get("/v1/tasks", params={**params, "limit": 500}).json()["items"]]
            assert len(expected) > 2
            walked, after = [], None
            while True:
                page = http.get("/v1/tasks", params={**params, "limit": 2,
                                                     **({"after": after} if after else {})}).json()
                walked += [t["id"] for t in page["items"]]
                after = page["next_after"]
                if after is None:
                    break
                http.post("/v1/tasks", json=spec)  # newer than every listed task
            assert walked == expected
        bad = http.get("/v1/tasks", params={"after": "x"})
        assert bad.status_code == 422 and bad.json()["error"]["details"][0]["path"] == "query.after"


def test_identity_changes_move_the_epoch_in_the_database(pg):
    """Migration 0013's statement triggers on PostgreSQL: a revocation by plain SQL moves the
    epoch that cached principals are checked against; last_used_at does not."""
    bootstrap_admin(pg, "admin")
    root = Principal(name="admin", role="admin", team=None, token_name="bootstrap")
    create_user(pg, root, "alice", team=None, role="user")
    token = create_token(pg, root, "alice", name="main")["token"]
    cache = Principals(pg, recheck_s=0)
    assert cache.authenticate(token).name == "alice"
    with pg.read() as session:
        before = epochs.read(session)
    with pg.write_engine.begin() as conn:
        conn.execute(text("UPDATE api_tokens SET last_used_at = 1 WHERE name = 'main'"))
    with pg.read() as session:
        assert epochs.read(session) == before
    with pg.write_engine.begin() as conn:
        conn.execute(text("UPDATE api_tokens SET revoked_at = 1 WHERE name = 'main'"))
    with pg.read() as session:
        assert epochs.read(session) == before + 1
    with pytest.raises(Unauthorized, match="revoked"):
        cache.authenticate(token)


def test_ui_sessions_on_postgresql(pg):
    """Migration 0014 on PostgreSQL: a session row by hashes only, the bound (the oldest go),
    sign-out, and the session's token authenticated by its hash through the principals cache."""
    bootstrap_admin(pg, "admin")
    root = Principal(name="admin", role="admin", team=None, token_name="bootstrap")
    create_user(pg, root, "alice", team=None, role="user")
    token = create_token(pg, root, "alice", name="main")["token"]
    store = SessionStore(pg, ttl_s=60, max_sessions=2, cache_s=0)
    made = [store.create(token, "alice", None) for _ in range(3)]
    assert [store.get(s.sid) is not None for s in made] == [False, True, True]
    assert Principals(pg, recheck_s=0).authenticate_hash(made[2].token_hash).name == "alice"
    store.drop(made[2].sid)
    assert store.get(made[2].sid) is None
    with pg.read() as session:
        rows = session.execute(text("SELECT * FROM ui_sessions")).all()
    assert [r.id_hash for r in rows] == [session_key(made[1].sid)]
    assert token not in str(rows) and made[1].sid not in str(rows)


def test_concurrent_submits_share_group_commits_on_postgresql(pg, tmp_path):
    """Group commit on PostgreSQL: concurrent submits each written once, the chain whole."""
    app, settings, headers = _app(pg, tmp_path)
    spec = {"kind": "custom", "name": "g", "code": str(settings.shared_root / "users" / "admin" / "code"),
            "command": ["python", "x.py"], "resources": {"nodes": 1, "cpus": 1}}
    ids: list[int] = []
    with ServerThread(app) as server:
        def submit() -> None:
            for _ in range(5):
                r = httpx.post(f"{server.url}/v1/tasks", json=spec, headers=headers)
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])

        threads = [threading.Thread(target=submit) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    with pg.read() as session:
        assert sorted(session.scalars(select(Task.id))) == sorted(ids) and len(set(ids)) == 30
    assert audit_service.verify(pg)["ok"] is True
