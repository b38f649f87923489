"""Who holds the scheduler lease, as stored (read-only; the lease itself is argus/control/lease.py)."""

from __future__ import annotations

import time
from typing import Any

from argus.db.engine import Database
from argus.db.models import SchedulerLease


def lease_status(db: Database, now: float | None = None) -> dict[str, Any]:
    """``holder`` is empty while nobody holds it; ``expires_in_s`` ≤ 0 means it has expired."""
    now = time.time() if now is None else now
    with db.read() as session:
        row = session.get(SchedulerLease, 1)
        if row is None:
            return {"holder": "", "token": 0, "expires_in_s": 0.0, "held": False}
        live = row.expires_at > now and bool(row.holder)
        return {"holder": row.holder if live else "", "token": row.token,
                "expires_in_s": round(row.expires_at - now, 3) if live else 0.0, "held": live,
                "last_holder": row.holder, "renewed_at": row.renewed_at}
