"""The scheduler lease on a real SQLite file and a real PostgreSQL server: compare-and-set with
expiry, fencing, takeover."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from argus.control.lease import FencedDatabase, Lease, LeaseLost
from argus.control.loans import rebalance_now
from argus.db.engine import Database
from argus.db.migrate import upgrade
from argus.db.models import QuotaLoan, Task
from argus.scheduling.placement import Demand
from argus.scheduling.planner import Running, Snapshot
from argus.scheduling.policy import FlavorQuota, Policy, Team
from argus.services.lease_status import lease_status
from tests.control.takeover import check_takeover, run_takeover


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'argus.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    database = Database(url)
    upgrade(database)
    yield database
    database.dispose()


def test_one_holder_at_a_time_and_takeover_after_expiry(db):
    clock = Clock()
    a, b = Lease(db, 10, "a", clock), Lease(db, 10, "b", clock)
    assert a.acquire() and a.token == 1
    assert not b.acquire() and b.token is None
    clock.t += 8
    assert a.hold() and a.token == 1  # renewed, same token
    clock.t += 8
    assert not b.hold()  # renewed 8 s ago: still a's
    assert lease_status(db, now=clock.t)["holder"] == "a"
    clock.t += 11  # a stopped renewing
    assert b.hold() and b.token == 2
    assert not a.renew() and a.token is None  # a learns it lost the lease
    assert lease_status(db, now=clock.t) | {"renewed_at": 0} == {
        "holder": "b", "token": 2, "expires_in_s": 10.0, "held": True, "last_holder": "b", "renewed_at": 0}


def test_a_stale_holder_cannot_write(db):
    clock = Clock()
    a, b = Lease(db, 10, "a", clock), Lease(db, 10, "b", clock)
    assert a.acquire()
    clock.t += 20  # a pauses past its lease (a long GC, a frozen VM) ...
    assert b.acquire()  # ... and b takes over
    fenced = FencedDatabase(db, a)  # a still believes it holds token 1
    with pytest.raises(LeaseLost), fenced.write() as session:
        session.add(Task(name="stale", kind="custom", priority="batch", status="QUEUED", reason="",
                         spec={}, spec_text="", checkpoint_dir="/x", nodes=1, gpus_per_node=0,
                         cpus_per_node=1, created_at=1, updated_at=1, queued_at=1))
    with db.read() as session:
        assert session.scalars(select(Task)).all() == []  # refused in the same transaction
    with FencedDatabase(db, b).write() as session:  # the holder writes
        session.add(QuotaLoan(ts=1, lender="x", borrower="y", flavor="H100", amount=1, reason=""))
    with pytest.raises(LeaseLost), fenced.write():
        pass  # a now knows: no token, no write


def test_release_lets_another_take_over_at_once(db):
    clock = Clock()
    a, b = Lease(db, 10, "a", clock), Lease(db, 10, "b", clock)
    assert a.acquire()
    a.release()
    assert b.acquire() and b.token == 2


def test_concurrent_rebalances_never_write_the_same_loan_twice(db, tmp_path):
    """Each step reads the open loans in its own write transaction: two steps at once give the
    sequential result (lend 8, then 4 more), never the same loan twice (8 and 8)."""
    lease = Lease(db, 10, "a")
    assert lease.acquire()
    policy = Policy(teams={"nlp": Team("nlp", 1, {"H100": FlavorQuota(16)}),
                           "cv": Team("cv", 1, {"H100": FlavorQuota(16)})})
    snapshot = Snapshot(nodes=[], running=[Running(1, ("n",), Demand(2, 1, 8, "H100"), 2, "cv", 0.0)],
                        pending=[], cluster_reachable=True, now=1.0)
    engines = [Database(db.url) for _ in range(2)]
    barrier = threading.Barrier(2)

    def step(engine: Database) -> None:
        barrier.wait()
        rebalance_now(FencedDatabase(engine, lease), policy, snapshot, 0.2)

    threads = [threading.Thread(target=step, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.read() as session:
        loans = session.scalars(select(QuotaLoan).where(QuotaLoan.reverted_at.is_(None))).all()
    assert sorted(loan.amount for loan in loans) == [4.0, 8.0]
    assert {(loan.lender, loan.borrower) for loan in loans} == {("nlp", "cv")}
    for engine in engines:
        engine.dispose()


def test_two_schedulers_on_one_sqlite_file_holder_killed(tmp_path):
    result = run_takeover(tmp_path, f"sqlite:///{tmp_path / 'argus.db'}")
    check_takeover(result)


def test_two_schedulers_on_postgresql_holder_killed(tmp_path, pg_url):
    result = run_takeover(tmp_path, pg_url)
    check_takeover(result)
