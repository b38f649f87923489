"""Rebalancing quota between teams (cube-studio's 20 % rule), as a pure function.

On a period, for each flavor: each team's utilisation is ``used / effective quota``, where the
effective quota is the nominal quota plus what it has been lent minus what it has lent. When
the busiest and the idlest team differ by more than the threshold, the idle team lends the
busy one part of its idle quota — at most half of it, never below what the idle team uses,
and within the idle team's lending limit. A loan is reverted (every change is a row in
``quota_loans`` with ``reverted_at``) once the lender needs the quota back: its utilisation
of its reduced quota passes the borrower's by more than the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from argus.scheduling.policy import FlavorQuota, Policy, Team


@dataclass(frozen=True)
class Loan:
    loan_id: int | None
    lender: str
    borrower: str
    flavor: str
    amount: float


@dataclass(frozen=True)
class Lend:
    lender: str
    borrower: str
    flavor: str
    amount: float
    reason: str


@dataclass(frozen=True)
class Revert:
    loan_id: int
    reason: str


def effective(policy: Policy, loans: Sequence[Loan]) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for name, team in policy.teams.items():
        for flavor, quota in team.quota.items():
            out[(name, flavor)] = quota.nominal
    for loan in loans:
        out[(loan.lender, loan.flavor)] = out.get((loan.lender, loan.flavor), 0.0) - loan.amount
        out[(loan.borrower, loan.flavor)] = out.get((loan.borrower, loan.flavor), 0.0) + loan.amount
    return out


def rebalance(policy: Policy, used: Mapping[tuple[str, str], float], loans: Sequence[Loan],
              threshold: float = 0.2) -> list[Lend | Revert]:
    """Changes to make now; ``used`` is GPUs in use per (team, flavor)."""
    quota = effective(policy, loans)
    util = {key: used.get(key, 0.0) / q for key, q in quota.items() if q > 0}
    changes: list[Lend | Revert] = []
    for loan in loans:
        lender, borrower = util.get((loan.lender, loan.flavor), 1.0), util.get((loan.borrower, loan.flavor), 0.0)
        if loan.loan_id is not None and lender - borrower > threshold:
            changes.append(Revert(loan.loan_id, f"team {loan.lender} uses {lender:.0%} of its {loan.flavor} "
                                                f"quota, team {loan.borrower} {borrower:.0%}: loan returned"))
    if changes:
        return changes
    flavors = {flavor for _, flavor in quota}
    for flavor in sorted(flavors):
        teams = [(util[key], key[0]) for key in util if key[1] == flavor]
        if len(teams) < 2:
            continue
        (low, lender), (high, borrower) = min(teams), max(teams)
        if high - low <= threshold:
            continue
        spec = policy.teams[lender].quota.get(flavor)
        idle = quota[(lender, flavor)] - used.get((lender, flavor), 0.0)
        lent = sum(loan.amount for loan in loans if loan.lender == lender and loan.flavor == flavor)
        cap = spec.lending_limit - lent if spec and spec.lending_limit is not None else idle
        amount = float(int(min(idle / 2, cap)))
        if amount >= 1:
            changes.append(Lend(lender, borrower, flavor, amount,
                                f"team {borrower} uses {high:.0%} of its {flavor} quota, team {lender} "
                                f"{low:.0%} (more than {threshold:.0%} apart): {lender} lends {amount:g}"))
    return changes


def apply_loans(policy: Policy, loans: Sequence[Loan]) -> Policy:
    """The policy with loans folded into nominal quotas (what the planner uses)."""
    quota = effective(policy, loans)
    teams: dict[str, Team] = {}
    for name, team in policy.teams.items():
        teams[name] = replace(team, quota={flavor: replace(q, nominal=quota[(name, flavor)])
                                           for flavor, q in team.quota.items()})
    for (name, flavor), value in quota.items():
        if name not in teams:
            teams[name] = Team(name, 1.0, {flavor: FlavorQuota(value)})
    return replace(policy, teams=teams)
