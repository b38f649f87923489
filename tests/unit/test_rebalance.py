from sqlalchemy import select

from argus.db.engine import Database
from argus.db.migrate import upgrade
from argus.db.models import QuotaLoan
from argus.control.loans import open_loans, rebalance_now
from argus.scheduling.placement import Demand
from argus.scheduling.planner import Running, Snapshot
from argus.scheduling.policy import FlavorQuota, Policy, Team
from argus.scheduling.rebalance import Lend, Loan, Revert, apply_loans, rebalance


def policy(**lending):
    return Policy(teams={"nlp": Team("nlp", 1, {"H100": FlavorQuota(16)}),
                         "cv": Team("cv", 1, {"H100": FlavorQuota(16, lending_limit=lending.get("cv"))})})


def test_lends_half_the_idle_quota_when_utilisation_differs_by_more_than_20_percent():
    changes = rebalance(policy(), {("nlp", "H100"): 16, ("cv", "H100"): 4}, [])
    assert changes == [Lend("cv", "nlp", "H100", 6.0, changes[0].reason)]
    assert "100%" in changes[0].reason and "25%" in changes[0].reason


def test_no_change_within_the_threshold_and_lending_limit_caps():
    assert rebalance(policy(), {("nlp", "H100"): 12, ("cv", "H100"): 10}, []) == []
    changes = rebalance(policy(cv=2), {("nlp", "H100"): 16, ("cv", "H100"): 0}, [])
    assert [c.amount for c in changes] == [2.0]


def test_loan_is_reverted_when_the_lender_needs_it_back_and_folds_into_quota():
    loans = [Loan(7, "cv", "nlp", "H100", 6.0)]
    assert apply_loans(policy(), loans).teams["nlp"].quota["H100"].nominal == 22
    changes = rebalance(policy(), {("nlp", "H100"): 10, ("cv", "H100"): 10}, loans)
    assert changes == [Revert(7, changes[0].reason)]


def test_rebalance_step_is_recorded_and_folded_into_the_quota(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    upgrade(db)
    busy = [Running(i, (f"n{i}",), Demand(1, 1, 8, "H100"), 2, "nlp") for i in range(2)]
    rebalance_now(db, policy(), Snapshot([], busy, []), 0.2)
    loans = open_loans(db)
    assert [(loan.lender, loan.borrower, loan.amount) for loan in loans] == [("cv", "nlp", 8.0)]
    assert apply_loans(policy(), loans).teams["cv"].quota["H100"].nominal == 8
    busy_cv = [Running(9, ("n9",), Demand(1, 1, 8, "H100"), 2, "cv")]
    rebalance_now(db, policy(), Snapshot([], busy_cv, []), 0.2)  # cv needs it back
    assert open_loans(db) == []
    with db.read() as s:
        row = s.scalars(select(QuotaLoan)).one()
        assert row.reverted_at is not None and "loan returned" in row.reason
    db.dispose()
