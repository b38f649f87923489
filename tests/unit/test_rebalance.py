from argus.scheduler.policy import FlavorQuota, Policy, Team
from argus.scheduler.rebalance import Lend, Loan, Revert, apply_loans, rebalance


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
