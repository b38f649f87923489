"""Team quotas per flavor (GPU model): nominal quota, borrowing limit, lending limit.

Kueue's semantics in one cohort (every configured team): a team may use its nominal quota;
above it, it borrows what other teams leave idle (each lends at most its lending limit) up
to its own borrowing limit. Usage is counted in GPUs; a team or flavor with no quota is not
limited. Tasks running above their team's nominal quota are "borrowed" and are the first
that an owner reclaims.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from argus.scheduling.placement import Demand, num
from argus.scheduling.policy import ANY_FLAVOR, FlavorQuota, Policy


class Usage(Protocol):
    task_id: int
    team: str | None
    demand: Demand
    started_at: float


def flavor_of(demand: Demand) -> str:
    return demand.gpu_model or ANY_FLAVOR


class QuotaBook:
    def __init__(self, policy: Policy, running: Sequence[Usage]):
        self.policy = policy
        self.used: dict[tuple[str, str], float] = defaultdict(float)
        self.borrowed: set[int] = set()
        self._checks: dict[tuple, tuple[bool, bool, str]] = {}  # answers of check() since the last change
        ordered = sorted(running, key=lambda r: (r.started_at, r.task_id))
        for run in ordered:
            if not run.demand.gpus:
                continue
            key = (run.team or "", flavor_of(run.demand))
            self.used[key] += run.demand.total_gpus
            quota = self._quota(run.team, key[1])
            if quota is not None and self.used[key] > quota.nominal + 1e-9:
                self.borrowed.add(run.task_id)

    def _quota(self, team: str | None, flavor: str) -> FlavorQuota | None:
        spec = self.policy.team(team)
        return spec.quota_for(flavor) if spec else None

    def within_nominal(self, team: str | None, demand: Demand) -> bool:
        quota = self._quota(team, flavor_of(demand))
        if quota is None or not demand.gpus:
            return True
        return self.used[(team or "", flavor_of(demand))] + demand.total_gpus <= quota.nominal + 1e-9

    def lendable(self, flavor: str, borrower: str) -> float:
        """Idle quota other teams may lend now, less what is already borrowed from it."""
        idle = borrowed = 0.0
        for name, team in self.policy.teams.items():
            quota = team.quota_for(flavor)
            if quota is None:
                continue
            use = self.used[(name, flavor)]
            if name != borrower:
                spare = max(0.0, quota.nominal - use)
                idle += spare if quota.lending_limit is None else min(spare, quota.lending_limit)
            borrowed += max(0.0, use - quota.nominal)
        return max(0.0, idle - borrowed)

    def check(self, team: str | None, demand: Demand) -> tuple[bool, bool, str]:
        """(admissible, borrows, why not) for ``demand`` of ``team`` under its quota."""
        key = (team, demand.gpu_model, demand.gpus, demand.nodes)
        answer = self._checks.get(key)
        if answer is None:
            answer = self._checks[key] = self._check(team, demand)
        return answer

    def _check(self, team: str | None, demand: Demand) -> tuple[bool, bool, str]:
        flavor = flavor_of(demand)
        quota = self._quota(team, flavor)
        if quota is None or not demand.gpus:
            return True, False, ""
        use = self.used[(team or "", flavor)]
        want = demand.total_gpus
        label = "GPU" if flavor == ANY_FLAVOR else flavor
        if use + want <= quota.nominal + 1e-9:
            return True, False, ""
        head = f"team {team} uses {num(use)}/{num(quota.nominal)} {label} and needs {num(want)} more"
        if quota.borrowing_limit is not None and quota.borrowing_limit <= 0:
            return False, False, f"team {team} uses {num(use)}/{num(quota.nominal)} {label} and may not borrow"
        if quota.borrowing_limit is not None and use + want > quota.nominal + quota.borrowing_limit + 1e-9:
            return False, False, (f"{head}; it may borrow at most {num(quota.borrowing_limit)} {label} "
                                  "beyond its quota")
        extra = use + want - max(quota.nominal, use)
        pool = self.lendable(flavor, team or "")
        if extra > pool + 1e-9:
            return False, False, f"{head}; other teams have {num(pool)} idle {label} to lend"
        return True, True, ""

    def add(self, team: str | None, demand: Demand) -> None:
        if demand.gpus:
            self._checks.clear()
            self.used[(team or "", flavor_of(demand))] += demand.total_gpus

    def remove(self, team: str | None, demand: Demand) -> None:
        if demand.gpus:
            self._checks.clear()
            self.used[(team or "", flavor_of(demand))] -= demand.total_gpus
