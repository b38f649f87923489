"""Quota loans in the DB: load the open ones, and apply what :func:`rebalance` decided."""

from __future__ import annotations

import logging
from collections import defaultdict

from sqlalchemy import select, update

from argus.db.engine import Database
from argus.db.models import QuotaLoan
from argus.db.store import now
from argus.scheduling.planner import Snapshot
from argus.scheduling.policy import Policy
from argus.scheduling.quota import flavor_of
from argus.scheduling.rebalance import Lend, Loan, Revert, rebalance

log = logging.getLogger(__name__)


def open_loans(db: Database) -> list[Loan]:
    with db.read() as session:
        return _open(session)


def _open(session) -> list[Loan]:  # noqa: ANN001
    rows = session.scalars(select(QuotaLoan).where(QuotaLoan.reverted_at.is_(None))).all()
    return [Loan(r.id, r.lender, r.borrower, r.flavor, r.amount) for r in rows]


def rebalance_now(db: Database, policy: Policy, snapshot: Snapshot, threshold: float) -> None:
    """One rebalancing step: every change is a row (a loan, or a loan's ``reverted_at``).

    The open loans are read in the write transaction that applies the changes (and the loop's
    writes are fenced by the scheduler lease), so two calls can never both write the same loan."""
    used: dict[tuple[str, str], float] = defaultdict(float)
    for run in snapshot.running:
        if run.demand.gpus:
            used[(run.team or "", flavor_of(run.demand))] += run.demand.total_gpus
    with db.write() as session:
        for change in rebalance(policy, used, _open(session), threshold):
            if isinstance(change, Lend):
                session.add(QuotaLoan(ts=now(), lender=change.lender, borrower=change.borrower,
                                      flavor=change.flavor, amount=change.amount, reason=change.reason))
            elif isinstance(change, Revert):
                session.execute(update(QuotaLoan)
                                .where(QuotaLoan.id == change.loan_id, QuotaLoan.reverted_at.is_(None))
                                .values(reverted_at=now(), reason=QuotaLoan.reason + " | " + change.reason))
            log.info("rebalance: %s", change.reason)
