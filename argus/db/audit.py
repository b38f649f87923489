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

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from argus.db.engine import ON_COMMIT
from argus.db.models import AuditEntry

GENESIS = "0" * 64
INSERT_ENTRY = AuditEntry.__table__.insert()
TAIL = "argus.audit_tail"  # session.info: the hash of the entry this transaction appended last
PG_LOCK_KEY = 0x4172677573  # "Argus": one chain, one appender at a time
FIELDS = ("ts", "actor", "token_name", "source_ip", "action", "target", "params", "outcome",
          "request_id")
SECRET_KEY = re.compile(r"token|secret|password|passwd|authorization|api[_-]?key|credential",
                        re.IGNORECASE)
REDACTED = "[redacted]"
SHORT = 64
TARGET_MAX = 512  # targets and params come from requests: each entry stays small
PARAMS_MAX = 4096
VALUE_MAX = 256
ITEMS_MAX = 50
DEPTH_MAX = 4


def redact(value: Any) -> Any:
    """A copy with the values of secret-looking keys replaced (recursively)."""
    if isinstance(value, dict):
        return {k: REDACTED if SECRET_KEY.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def cap(value: Any, depth: int = 0) -> Any:
    """A copy small enough for the trail: long strings cut, long lists and maps shortened."""
    if isinstance(value, str):
        return value if len(value) <= VALUE_MAX else value[:VALUE_MAX] + f"…(+{len(value) - VALUE_MAX})"
    if depth >= DEPTH_MAX and isinstance(value, (dict, list)):
        return "…"
    if isinstance(value, dict):
        items = list(value.items())
        out = {str(k)[:SHORT]: cap(v, depth + 1) for k, v in items[:ITEMS_MAX]}
        if len(items) > ITEMS_MAX:
            out["…"] = f"{len(items) - ITEMS_MAX} more"
        return out
    if isinstance(value, list):
        out_list = [cap(v, depth + 1) for v in value[:ITEMS_MAX]]
        return out_list + ([f"…{len(value) - ITEMS_MAX} more"] if len(value) > ITEMS_MAX else [])
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        return "…(a huge number)"
    return value


def capped_params(params: dict[str, Any]) -> dict[str, Any]:
    small = cap(redact(params))
    text = json.dumps(small, sort_keys=True, default=str)
    return small if len(text) <= PARAMS_MAX else {"truncated": text[:PARAMS_MAX]}


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
) -> str:
    """Append one entry; returns its hash."""
    short = SHORT  # the String(64)/String(32) columns: clients control some of these values
    fields: dict[str, Any] = {
        "ts": ts if ts is not None else time.time(), "actor": actor[:short],
        "token_name": token_name[:short], "source_ip": source_ip[:short],
        "action": action[:short], "target": target[:TARGET_MAX],
        "params": capped_params(params or {}),
        "outcome": outcome[:32], "request_id": request_id[:short],
    }
    prev = session.info.get(TAIL)
    if prev is None:  # the first entry of this transaction: lock the chain, read its tail
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        prev = session.scalar(select(AuditEntry.entry_hash).order_by(AuditEntry.id.desc()).limit(1))
        prev = prev or GENESIS
    digest = entry_hash(prev, fields)
    # A plain INSERT (written for every state change, many per group commit), in order: the
    # chain's order is the ids' order.
    session.connection().execute(INSERT_ENTRY, {**fields, "prev_hash": prev, "entry_hash": digest})
    # The chain stays locked until this transaction ends (BEGIN IMMEDIATE / the advisory lock):
    # the next entry of a group commit links to this one without reading it back.
    session.info[TAIL] = digest
    return digest


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_tail(session: Session) -> None:
    """The chain's lock ends with the transaction, and so does what it knew of the tail."""
    session.info.pop(TAIL, None)


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
    client_request_id: str = ""
    target: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    recorded: bool = False

    def record(self, session: Session, *, target: str | None = None, outcome: str = "ok",
               **params: Any) -> None:
        """Append the entry in ``session``'s transaction; it counts as recorded once that
        transaction commits (:meth:`Database.write` runs the ``on_commit`` callbacks)."""
        if target is not None:
            self.target = target
        self.params.update(params)
        extra = {"client_request_id": self.client_request_id} if self.client_request_id else {}
        append(session, actor=self.actor, action=self.action, outcome=outcome, target=self.target,
               params={**self.params, **extra}, token_name=self.token_name,
               source_ip=self.source_ip, request_id=self.request_id)
        on_commit(session, self._committed)

    def _committed(self) -> None:
        self.recorded = True


def on_commit(session: Session, callback: Any) -> None:
    """Run ``callback`` after ``session``'s transaction commits (never if it rolls back)."""
    session.info.setdefault(ON_COMMIT, []).append(callback)
