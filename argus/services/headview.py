"""The published head as people see it: epoch, addresses, since when, lease state. Read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from argus.headrecord import EPOCHS_DIR, BadRecord, RecordMissing, cluster_dir, read_record


def head_view(shared_root: Path | None, now: float) -> dict[str, Any]:
    """``since``: when the head claimed its epoch (the claim file's time)."""
    if shared_root is None:
        return {"state": "no shared root", "detail": "ARGUS_SHARED_ROOT is not set; Ray at ARGUS_RAY_ADDRESS"}
    try:
        record = read_record(shared_root)
    except RecordMissing:
        return {"state": "none", "detail": "no head has published itself yet"}
    except (BadRecord, OSError) as exc:
        return {"state": "unreadable", "detail": str(exc)[:300]}
    try:
        since = (cluster_dir(shared_root) / EPOCHS_DIR / str(record.epoch)).stat().st_mtime
    except OSError:
        since = None
    state = "withdrawn" if record.withdrawn else ("live" if record.live(now) else "lease expired")
    return {"state": state, "detail": "", "epoch": record.epoch, "dashboard_url": record.dashboard_url,
            "gcs_address": record.gcs_address, "host": record.host, "pid": record.pid,
            "session_name": record.session_name, "since": since, "written_at": record.written_at,
            "lease_expires_at": record.lease_expires_at}
