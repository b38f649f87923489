"""The quarantine flag: ``<worker state>/quarantine``. Present = no new work on this node.

An operator may ``touch`` it (an empty flag: the raylet leaves at once). The agent writes it on a
fatal Xid as JSON — reason, time, and until when the raylet stays to drain — and removes it when
a release arrives (``argus node release``) that is newer than the quarantine.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Quarantine:
    reason: str
    at: float
    drain_until: float = 0.0
    source: str = "operator"


def read_flag(path: Path) -> Quarantine | None:
    try:
        text = path.read_text()
        at = path.stat().st_mtime
    except FileNotFoundError:
        return None
    except OSError:
        return Quarantine("quarantine flag unreadable", time.time())
    try:
        body = json.loads(text) if text.strip() else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return Quarantine(str(body.get("reason") or f"quarantined by the operator ({path} exists)"),
                      float(body.get("at") or at), float(body.get("drain_until") or 0.0),
                      str(body.get("source") or "operator"))


def write_flag(path: Path, reason: str, *, source: str, drain_seconds: float, now: float) -> Quarantine:
    """Create the flag (fsynced: it must survive a crash of a node whose GPU just failed)."""
    q = Quarantine(reason, now, now + drain_seconds, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as handle:
        json.dump({"reason": q.reason, "at": q.at, "drain_until": q.drain_until, "source": q.source}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return q


def clear_flag(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
