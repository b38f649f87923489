"""The head record: how a Ray head publishes itself on the shared filesystem.

``<shared root>/cluster/head.json`` carries a schema version, an epoch that only grows, the GCS
address, the dashboard URL, Ray's session name, the writer's host and pid, when it was written,
a lease expiry and a checksum of the body. Writers replace it atomically; readers verify it and
never follow a lower epoch, an expired lease or a withdrawn record.

Epochs are allocated by creating ``cluster/epochs/<n>`` with O_CREAT|O_EXCL: exclusive create is
atomic on POSIX filesystems including GPFS, so two heads starting at once can never both own
epoch n; the loser sees EEXIST and tries n+1.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

SCHEMA = 1
MAX_EPOCH_TRIES = 1000


class RecordError(ValueError):
    """A record that must not be followed (unreadable, truncated, tampered, wrong schema)."""


@dataclass(frozen=True)
class HeadRecord:
    epoch: int
    gcs_address: str
    dashboard_url: str
    session_name: str
    host: str
    pid: int
    written_at: float
    lease_expires_at: float
    withdrawn: bool = False
    schema: int = SCHEMA

    def body(self) -> dict:
        return asdict(self)

    def live(self, now: float) -> bool:
        return not self.withdrawn and now < self.lease_expires_at

    def renewed(self, now: float, lease_s: float) -> HeadRecord:
        return replace(self, written_at=now, lease_expires_at=now + lease_s)


def checksum(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def encode(record: HeadRecord) -> bytes:
    body = record.body()
    return json.dumps({"body": body, "sha256": checksum(body)}, sort_keys=True, indent=1).encode()


def decode(data: bytes) -> HeadRecord:
    try:
        doc = json.loads(data)
        body, digest = doc["body"], doc["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        raise RecordError(f"not a head record ({type(exc).__name__}): truncated or garbage") from exc
    if checksum(body) != digest:
        raise RecordError("checksum mismatch: the record was altered or half-written")
    if body.get("schema") != SCHEMA:
        raise RecordError(f"schema {body.get('schema')} is not {SCHEMA}")
    try:
        return HeadRecord(**body)
    except TypeError as exc:
        raise RecordError(f"unexpected fields: {exc}") from exc


def record_path(shared_root: str | Path) -> Path:
    return Path(shared_root) / "cluster" / "head.json"


def write(path: Path, record: HeadRecord) -> None:
    """Atomic replace: temp file, fsync, os.replace, fsync the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(encode(record))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read(path: Path) -> HeadRecord:
    try:
        return decode(path.read_bytes())
    except FileNotFoundError as exc:
        raise RecordError(f"no head record at {path}") from exc


def allocate_epoch(shared_root: str | Path, host: str, pid: int) -> int:
    """Claim the next epoch with an exclusive create; never reuses or goes back."""
    claims = Path(shared_root) / "cluster" / "epochs"
    claims.mkdir(parents=True, exist_ok=True)
    current = max((int(p.name) for p in claims.iterdir() if p.name.isdigit()), default=0)
    for candidate in range(current + 1, current + 1 + MAX_EPOCH_TRIES):
        try:
            fd = os.open(claims / str(candidate), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{host} {pid}\n")
            handle.flush()
            os.fsync(handle.fileno())
        return candidate
    raise RuntimeError(f"could not claim an epoch in {claims} after {MAX_EPOCH_TRIES} tries")


@dataclass
class Follower:
    """Keeps the last good record; accepts only verified, live, never-lower-epoch records."""

    best: HeadRecord | None = None
    last_error: str = ""

    def offer(self, record: HeadRecord | None, error: str, now: float) -> HeadRecord | None:
        """Feed what was just read (a record, or the error reading it); return the head to follow."""
        if record is None:
            self.last_error = error
        elif self.best is not None and record.epoch < self.best.epoch:
            self.last_error = f"ignored epoch {record.epoch}: lower than {self.best.epoch}"
        else:
            self.best, self.last_error = record, ""
        if self.best is not None and not self.best.live(now):
            return None
        return self.best

    def poll(self, path: Path, now: float) -> HeadRecord | None:
        try:
            return self.offer(read(path), "", now)
        except RecordError as exc:
            return self.offer(None, str(exc), now)
