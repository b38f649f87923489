"""An audit trail that holds (issue 10, item 6): nothing marked recorded that did not commit,
500s on record with the server's request id, bounded entries, bounded noise, no rewriting by
INSERT OR REPLACE, no spoofed source address, private files, and a truncated tail found.
"""

from __future__ import annotations

import json
import os
import stat

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from api.app import create_app
from api.noise import NoiseGate
from argus.db.audit import RequestAudit
from tests.api.conftest import FakeCluster, World, build_world
from tests.api.test_cli_identity import Cli
from tests.conftest import ServerThread


def export(world: World, **params: str) -> list[dict]:
    response = world.client("audrey").get("/v1/audit", params=params)
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def test_an_entry_counts_as_recorded_only_once_its_transaction_commits(world):
    entry = RequestAudit(action="task.cancel", actor="alice")
    with pytest.raises(RuntimeError), world.db.write() as session:
        entry.record(session, target="task/1")
        raise RuntimeError("the change fails after its entry was appended")
    assert entry.recorded is False  # so the middleware still writes the failure
    with world.db.write() as session:
        entry.record(session, target="task/1")
    assert entry.recorded is True


def test_a_500_is_audited_with_the_servers_request_id_and_the_clients_beside_it(world, monkeypatch):
    task_id = world.client("alice").post("/v1/tasks", json=world.spec("alice")).json()["id"]

    def broken(*_args, **_kwargs):  # a fault inside the service (a bug, a dead disk)
        raise RuntimeError("boom")

    monkeypatch.setattr("argus.services.tasks.cancel", broken)
    response = world.client("alice").post(f"/v1/tasks/{task_id}/cancel",
                                          headers={"X-Request-ID": "client-chosen-42"})
    assert response.status_code == 500
    error = response.json()["error"]
    rid = response.headers["X-Request-ID"]
    assert error["code"] == "internal" and error["request_id"] == rid != "client-chosen-42"
    assert rid in error["message"] and "boom" not in error["message"]
    [entry] = export(world, action="task.cancel")
    assert entry["outcome"] == "error 500" and entry["request_id"] == rid
    assert entry["params"]["client_request_id"] == "client-chosen-42" and entry["actor"] == "alice"


def test_targets_and_params_are_capped(world):
    query = "&".join(f"k{i}={'v' * 2000}" for i in range(25))
    response = world.client("alice").post(f"/v1/{'x' * 3000}?{query}")
    assert response.status_code == 404
    [entry] = [e for e in export(world) if e["action"].startswith("POST /v1/xxx")]
    assert len(entry["target"]) <= 512
    assert len(json.dumps(entry["params"])) <= 4200
    assert world.client("audrey").get("/v1/audit/verify").json()["ok"] is True


def test_unauthenticated_noise_cannot_grow_the_trail_without_bound(tmp_path):
    settings, db, _tokens = build_world(tmp_path)
    settings = settings.model_copy(update={"audit_noise_per_minute": 5})
    app = create_app(settings, provider=FakeCluster(), db=db, embed_scheduler=False)
    with ServerThread(app) as server, httpx.Client(base_url=server.url) as http:
        before = _count(db)
        for i in range(120):
            assert http.post(f"/v1/tasks/{i + 1}/cancel",
                             headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert _count(db) - before == 5  # the rest are counted, not written one by one


def test_the_gate_records_what_it_suppressed_per_source_and_window():
    now = [0.0]
    gate = NoiseGate(per_window=2, window_s=60, max_sources=2, clock=lambda: now[0], wall=lambda: 1000 + now[0])
    assert [gate.admit("a")[0] for _ in range(5)] == [True, True, False, False, False]
    assert gate.admit("b")[0] and gate.admit("c")[0]  # c: past max_sources, the shared bucket
    now[0] = 61
    admitted, closed = gate.admit("a")
    assert admitted and [(w.source, w.count) for w in closed] == [("a", 3)]


def _count(db) -> int:  # noqa: ANN001
    with db.read() as session:
        return session.execute(text("SELECT count(*) FROM audit_log")).scalar()


def test_insert_or_replace_cannot_rewrite_an_entry(world):
    world.client("alice").post("/v1/tasks", json=world.spec("alice"))
    [entry] = export(world, action="task.submit")
    with pytest.raises(DatabaseError, match="append-only"), world.db.write() as session:
        session.execute(text(
            "INSERT OR REPLACE INTO audit_log (id, ts, actor, token_name, source_ip, action, target, "
            "params, outcome, request_id, prev_hash, entry_hash) SELECT id, ts, 'mallory', token_name, "
            "source_ip, action, target, params, outcome, request_id, prev_hash, entry_hash "
            "FROM audit_log WHERE id = :id"), {"id": entry["id"]})
    assert export(world, action="task.submit")[0]["actor"] == "alice"
    assert world.client("audrey").get("/v1/audit/verify").json()["ok"] is True


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(tmp_path):
    settings, db, tokens = build_world(tmp_path)
    for trusted, expected in (([], "127.0.0.1"), (["127.0.0.1"], "203.0.113.9")):
        app = create_app(settings.model_copy(update={"trusted_proxies": trusted}),
                         provider=FakeCluster(), db=db, embed_scheduler=False)
        with ServerThread(app) as server:
            response = httpx.post(f"{server.url}/v1/tasks/1/cancel", headers={
                "Authorization": f"Bearer {tokens['bob']}",
                "X-Forwarded-For": "198.51.100.7, 203.0.113.9"})
            assert response.status_code == 404
            rid = response.headers["X-Request-ID"]
        with db.read() as session:
            source = session.execute(text("SELECT source_ip FROM audit_log WHERE request_id = :r"),
                                     {"r": rid}).scalar()
        assert source == expected  # trusted: the right-most address the proxy saw


def test_database_files_are_private(world):
    world.client("alice").post("/v1/tasks", json=world.spec("alice"))
    state = world.settings.state_dir
    files = [state / name for name in ("argus.db", "argus.db-wal", "argus.db-shm")]
    assert all(f.exists() for f in files)
    assert {oct(stat.S_IMODE(os.stat(f).st_mode)) for f in files} == {"0o600"}


def test_an_older_database_file_is_made_private(tmp_path):
    path = tmp_path / "old.db"
    path.write_bytes(b"")
    os.chmod(path, 0o644)
    from argus.db.engine import Database

    Database(f"sqlite:///{path}").dispose()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_truncated_tail_is_found_against_an_anchor(world, tmp_path):
    for _ in range(3):
        world.client("alice").post("/v1/tasks", json=world.spec("alice"))
    cli = Cli(tmp_path, world.url)
    audrey = world.tokens["audrey"]
    anchor = tmp_path / "anchor.json"
    made = cli("audit", "anchor", "-o", str(anchor), token=audrey)
    assert made.returncode == 0, made.stderr
    kept = json.loads(anchor.read_text())
    assert cli("audit", "verify", "--anchor", str(anchor), token=audrey).returncode == 0
    with world.db.write() as session:  # an attacker with the file cuts the tail from the
        session.execute(text("DROP TRIGGER audit_log_no_delete"))  # anchored entry on
        session.execute(text("DELETE FROM audit_log WHERE id >= (SELECT id FROM audit_log ORDER BY id "
                             "LIMIT 1 OFFSET :n)"), {"n": kept["entries"] - 1})
    checked = cli("audit", "verify", "--anchor", str(anchor), token=audrey)
    assert checked.returncode == 1
    assert "truncated tail" in checked.stderr and str(kept["entries"]) in checked.stderr
    plain = cli("audit", "verify", token=audrey)
    assert plain.returncode == 0  # the chain alone cannot tell
    # the trail has grown past the cut since (every verify is audited): still found
    report = world.client("audrey").get("/v1/audit/verify", params={
        "anchor_entries": kept["entries"], "anchor_hash": kept["head_hash"]}).json()
    assert report["ok"] is False and "rewritten" in report["anchor"]["reason"]


def test_an_anchor_detects_a_trail_redone_from_some_point(world):
    world.client("alice").post("/v1/tasks", json=world.spec("alice"))
    kept = world.client("audrey").get("/v1/audit/verify").json()
    wrong = {"anchor_entries": kept["entries"], "anchor_hash": "0" * 64}
    report = world.client("audrey").get("/v1/audit/verify", params=wrong).json()
    assert report["ok"] is False and "rewritten" in report["anchor"]["reason"]
    half = world.client("audrey").get("/v1/audit/verify", params={"anchor_entries": 3})
    assert half.status_code == 400
