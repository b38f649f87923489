"""A team's quota as the scheduler sees it: configured, with open loans, and in use per flavor."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from argus.db.engine import Database
from argus.db.models import QuotaLoan, Task
from argus.scheduling.policy import ANY_FLAVOR, Policy
from argus.states import ACTIVE


def quota_view(db: Database, policy: Policy, team: str) -> list[dict[str, Any]]:
    """One row per flavor the team has a quota for or uses: nominal as configured, lent/borrowed
    through open rebalancing loans, the effective nominal, the limits, and GPUs in use.

    A team with no quota (`argus team quota set`) has no rows for quota (it is not limited) but still
    shows what it uses."""
    configured = policy.team(team)
    quotas = dict(configured.quota) if configured else {}
    with db.read() as session:
        used_rows = session.execute(
            select(func.coalesce(Task.gpu_model, ANY_FLAVOR), func.sum(Task.gpus_per_node * Task.nodes))
            .where(Task.team == team, Task.status.in_([s.value for s in ACTIVE]), Task.gpus_per_node > 0)
            .group_by(func.coalesce(Task.gpu_model, ANY_FLAVOR))
        ).all()
        loans = session.scalars(select(QuotaLoan).where(
            QuotaLoan.reverted_at.is_(None), (QuotaLoan.lender == team) | (QuotaLoan.borrower == team))).all()
    used = {flavor: float(total or 0.0) for flavor, total in used_rows}
    lent: dict[str, float] = defaultdict(float)
    borrowed: dict[str, float] = defaultdict(float)
    for loan in loans:
        (lent if loan.lender == team else borrowed)[loan.flavor] += loan.amount
    rows = []
    for flavor in sorted(set(quotas) | set(used) | set(lent) | set(borrowed)):
        q = quotas.get(flavor)
        nominal = q.nominal if q else None
        rows.append({
            "flavor": flavor,
            "nominal": nominal,
            "lent": lent.get(flavor, 0.0),
            "borrowed": borrowed.get(flavor, 0.0),
            "effective": None if nominal is None else nominal - lent.get(flavor, 0.0) + borrowed.get(flavor, 0.0),
            "borrowing_limit": q.borrowing_limit if q else None,
            "lending_limit": q.lending_limit if q else None,
            "in_use": used.get(flavor, 0.0),
        })
    return rows
