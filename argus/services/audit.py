"""Reading the audit trail: verify the hash chain, export with filters (JSON lines, CSV).

Appending is in :mod:`argus.db.audit` (it runs inside the writer's transaction).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from argus.db.audit import GENESIS, entry_hash
from argus.db.engine import Database
from argus.db.models import AuditEntry
from argus.errors import BadRequest

COLUMNS = ("id", "time", "actor", "token_name", "source_ip", "action", "target", "params",
           "outcome", "request_id", "prev_hash", "entry_hash")
BATCH = 1000


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="microseconds")


def parse_time(text: str | None) -> float | None:
    """ISO 8601 (UTC if no zone) or seconds since the epoch."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"'{text}' is not a time; use ISO 8601 (2026-11-23T08:00:00Z) "
                         "or seconds since the epoch") from exc
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def _fields(row: AuditEntry) -> dict[str, Any]:
    return {"ts": row.ts, "actor": row.actor, "token_name": row.token_name,
            "source_ip": row.source_ip, "action": row.action, "target": row.target,
            "params": row.params, "outcome": row.outcome, "request_id": row.request_id}


def _rows(db: Database, query) -> Iterator[AuditEntry]:  # noqa: ANN001
    last = 0
    while True:
        with db.read() as session:
            batch = session.scalars(query.where(AuditEntry.id > last).order_by(AuditEntry.id)
                                    .limit(BATCH)).all()
        if not batch:
            return
        yield from batch
        last = batch[-1].id


def verify(db: Database, anchor: dict[str, Any] | None = None) -> dict[str, Any]:
    """Walk the chain; report the first entry whose hash or link does not hold.

    ``anchor`` (``{"entries": N, "head_hash": H}``, what :func:`anchor_of` exported earlier)
    also catches what the chain alone cannot: a trail cut short at its tail (the N-th entry
    is gone) or rewritten from some point on (the N-th entry's hash is not H)."""
    prev, count, at_anchor = GENESIS, 0, None
    want = int(anchor["entries"]) if anchor else None
    for row in _rows(db, select(AuditEntry)):
        if row.prev_hash != prev:
            return _broken(row, count, "its prev_hash does not match the entry before it "
                           "(an entry before it was changed, removed or inserted)")
        if entry_hash(prev, _fields(row)) != row.entry_hash:
            return _broken(row, count, "its contents do not match its hash (it was edited)")
        prev, count = row.entry_hash, count + 1
        if count == want:
            at_anchor = row.entry_hash
    report = {"ok": True, "entries": count, "head_hash": prev, "first_broken": None}
    if anchor is not None:
        report["anchor"] = _check_anchor(anchor, count, at_anchor)
        report["ok"] = report["anchor"]["ok"]
    return report


def _check_anchor(anchor: dict[str, Any], count: int, at_anchor: str | None) -> dict[str, Any]:
    want, hash_ = int(anchor["entries"]), str(anchor["head_hash"])
    result: dict[str, Any] = {"entries": want, "head_hash": hash_, "ok": True, "reason": None}
    if want == 0:
        return result
    if count < want:
        result.update(ok=False, reason=f"the trail has {count} entries, the anchor recorded {want}: "
                      f"its last {want - count} were removed (truncated tail)")
    elif at_anchor != hash_:
        result.update(ok=False, reason=f"entry {want} does not have the anchor's hash: the trail was "
                      "rewritten up to that point, or cut back and grown again (the chain itself "
                      "holds: it was rebuilt from there)")
    return result


def anchor_of(report: dict[str, Any]) -> dict[str, Any]:
    """What to keep somewhere else to check later that nothing before it was cut or redone."""
    return {"entries": report["entries"], "head_hash": report["head_hash"],
            "exported_at": iso(datetime.now(timezone.utc).timestamp())}


def _broken(row: AuditEntry, count: int, why: str) -> dict[str, Any]:
    return {"ok": False, "entries": count, "head_hash": None,
            "first_broken": {"id": row.id, "time": iso(row.ts), "reason": why}}


def entries(db: Database, *, since: float | None = None, until: float | None = None,
            user: str | None = None, action: str | None = None) -> Iterator[dict[str, Any]]:
    """Entries in order; ``action`` matches exactly or as a prefix ending in '.' (``task.``)."""
    query = select(AuditEntry)
    if since is not None:
        query = query.where(AuditEntry.ts >= since)
    if until is not None:
        query = query.where(AuditEntry.ts < until)
    if user:
        query = query.where(AuditEntry.actor == user)
    if action:
        query = query.where(AuditEntry.action.startswith(action) if action.endswith(".")
                            else AuditEntry.action == action)
    for row in _rows(db, query):
        yield {"id": row.id, "time": iso(row.ts), **_fields(row), "prev_hash": row.prev_hash,
               "entry_hash": row.entry_hash}


def as_jsonl(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, sort_keys=True, default=str) + "\n"


def _cell(value: Any) -> Any:
    """Defuse spreadsheet formulas: a cell starting with = + - @ is prefixed with a quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def as_csv(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(json.dumps(row["params"], sort_keys=True) if c == "params" else row[c])
                         for c in COLUMNS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
