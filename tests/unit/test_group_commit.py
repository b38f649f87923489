"""Group commit (argus/db/engine.py: Database.grouped): writes that wait share one transaction,
yet each caller gets back its own result or its own error, only once its write has committed,
and the audit chain written by a group stays whole."""

from __future__ import annotations

import sqlite3
import threading
import time

from sqlalchemy import event

from argus.db.audit import append
from argus.db.engine import Database
from argus.db.migrate import upgrade
from argus.db.models import Team
from argus.errors import Conflict
from argus.services import audit as audit_service

WAITERS = 10


def _commits(db: Database) -> list[int]:
    seen: list[int] = []
    event.listen(db.write_engine, "commit", lambda conn: seen.append(1))
    return seen


def _team(name: str, *, refuse: bool = False, broken: bool = False):  # noqa: ANN202
    def work(session):  # noqa: ANN001, ANN202
        if refuse:
            raise Conflict(f"{name} refused")
        session.add(Team(name=name, description="", created_at=time.time()))
        if broken:
            session.add(Team(name="first", description="", created_at=0.0))  # duplicate key
        session.flush()
        append(session, actor="t", action="team.create", outcome="ok", target=f"team/{name}")
        return name
    return work


def _held_group(db: Database, works: list) -> tuple[list, list]:  # noqa: ANN001
    """A first write holds the write transaction until the others have queued behind it, so
    they form one group; returns (results, errors) in the order of ``works``."""
    gate, entered = threading.Event(), threading.Event()

    def first(session):  # noqa: ANN001, ANN202
        entered.set()
        assert gate.wait(10)
        return _team("first")(session)

    results: list = [None] * len(works)
    errors: list = [None] * len(works)

    def call(i: int, work) -> None:  # noqa: ANN001
        try:
            results[i] = db.grouped(work)
        except Exception as exc:  # noqa: BLE001
            errors[i] = exc

    holder = threading.Thread(target=lambda: db.grouped(first))
    holder.start()
    assert entered.wait(10)
    threads = [threading.Thread(target=call, args=(i, w)) for i, w in enumerate(works)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(db._group) < len(works) and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.set()
    for t in [holder, *threads]:
        t.join(10)
    return results, errors


def test_waiting_writes_share_one_commit_and_each_gets_its_result(db):
    commits = _commits(db)
    results, errors = _held_group(db, [_team(f"t{i}") for i in range(WAITERS)])
    assert errors == [None] * WAITERS and results == [f"t{i}" for i in range(WAITERS)]
    assert len(commits) == 2  # the holder's, then all the waiters' together
    with sqlite3.connect(db.url.removeprefix("sqlite:///")) as conn:
        assert conn.execute("SELECT count(*) FROM teams").fetchone()[0] == WAITERS + 1
    assert audit_service.verify(db)["ok"]


def test_a_refusal_in_a_group_goes_to_its_caller_only(db):
    works = [_team("a"), _team("b", refuse=True), _team("c")]
    results, errors = _held_group(db, works)
    assert results == ["a", None, "c"]
    assert isinstance(errors[1], Conflict) and errors[0] is None and errors[2] is None
    with db.read() as session:
        assert {t.name for t in session.query(Team)} == {"first", "a", "c"}
    assert audit_service.verify(db)["ok"]


def test_a_broken_write_rolls_back_alone(db):
    """A write that breaks the transaction (a duplicate key): the group is rolled back and each
    write runs again on its own, so the others still commit and only that caller sees the error."""
    works = [_team("a"), _team("b", broken=True), _team("c")]
    results, errors = _held_group(db, works)
    assert results == ["a", None, "c"]
    assert errors[0] is None and errors[2] is None and "UNIQUE" in str(errors[1])
    with db.read() as session:
        assert {t.name for t in session.query(Team)} == {"first", "a", "c"}
    assert audit_service.verify(db)["ok"]


def test_a_returned_write_is_committed(db):
    """Durable on return: another connection sees the row as soon as grouped() returns."""
    path = db.url.removeprefix("sqlite:///")
    for i in range(20):
        db.grouped(_team(f"d{i}"))
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT count(*) FROM teams WHERE name = ?", (f"d{i}",)).fetchone()[0] == 1


def test_group_commit_off_writes_each_alone(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'off.db'}", group_commit=False)
    upgrade(database)
    try:
        commits = _commits(database)
        results = [database.grouped(_team(f"t{i}")) for i in range(3)]
        assert results == ["t0", "t1", "t2"] and len(commits) == 3
    finally:
        database.dispose()
