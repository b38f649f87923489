"""Appending to the hash-chained audit log, inside the caller's write transaction.

Each entry stores the previous entry's hash and its own:
``entry_hash = sha256(prev_hash + "\\n" + canonical JSON of the entry's fields)``.
SQLite writes run under ``BEGIN IMMEDIATE``, so reading the last hash and appending are serialized;
on PostgreSQL a transaction-scoped advisory lock does the same.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from argus.db.models import AuditEntry

GENESIS = "0" * 64
PG_LOCK_KEY = 0x4172677573  # "Argus": one chain, one appender at a time
FIELDS = ("ts", "actor", "token_name", "source_ip", "action", "target", "params", "outcome",
          "request_id")
SECRET_KEY = re.compile(r"token|secret|password|passwd|authorization|api[_-]?key|credential",
                        re.IGNORECASE)
REDACTED = "[redacted]"
SHORT = 64


def redact(value: Any) -> Any:
    """A copy with the values of secret-looking keys replaced (recursively)."""
    if isinstance(value, dict):
        return {k: REDACTED if SECRET_KEY.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    body = json.dumps({k: fields[k] for k in FIELDS}, sort_keys=True, separators=(",", ":"),
                      default=str)
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    outcome: str,
    target: str = "",
    params: dict[str, Any] | None = None,
    token_name: str = "",
    source_ip: str = "",
    request_id: str = "",
    ts: float | None = None,
) -> AuditEntry:
    short = SHORT  # the String(64)/String(32) columns: clients control some of these values
    fields: dict[str, Any] = {
        "ts": ts if ts is not None else time.time(), "actor": actor[:short],
        "token_name": token_name[:short], "source_ip": source_ip[:short],
        "action": action[:short], "target": target, "params": redact(params or {}),
        "outcome": outcome[:32], "request_id": request_id[:short],
    }
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
    prev = session.scalar(select(AuditEntry.entry_hash).order_by(AuditEntry.id.desc()).limit(1))
    prev = prev or GENESIS
    entry = AuditEntry(**fields, prev_hash=prev, entry_hash=entry_hash(prev, fields))
    session.add(entry)
    session.flush()
    return entry


@dataclass
class RequestAudit:
    """One API request's audit entry in the making. A service that changes state calls
    :meth:`record` inside its own write transaction, so the change and its entry commit
    together; the API middleware writes the entry of anything not recorded that way (denied
    and failed requests, reads of the trail)."""

    action: str
    actor: str = "-"
    token_name: str = ""
    source_ip: str = ""
    request_id: str = ""
    target: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    recorded: bool = False

    def record(self, session: Session, *, target: str | None = None, outcome: str = "ok",
               **params: Any) -> None:
        if target is not None:
            self.target = target
        self.params.update(params)
        append(session, actor=self.actor, action=self.action, outcome=outcome, target=self.target,
               params=self.params, token_name=self.token_name, source_ip=self.source_ip,
               request_id=self.request_id)
        self.recorded = True
