"""The head record: how a Ray head tells everyone where it is, through the shared filesystem.

``<shared root>/cluster/head.json`` holds ``{"body": {...}, "sha256": "<hex of the body>"}``.
The body carries a schema version, an epoch that grows with every new head, the GCS address,
the dashboard URL, Ray's session name, the writer's host and pid, when it was written, a lease
expiry and a ``withdrawn`` flag. Readers verify the checksum and never follow a lower epoch.

Epochs are allocated by creating ``<root>/cluster/epochs/<n>`` with ``O_CREAT | O_EXCL``: of two
heads that start at once, exactly one creates a given ``n``; the other gets ``EEXIST`` and tries
``n + 1``. See docs/node-pool.md.

Pure file I/O and JSON; no Ray, no clock of its own (``now`` is passed in where it matters).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import socket
from dataclasses import asdict, dataclass, replace
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
RECORD_NAME = "head.json"
EPOCHS_DIR = "epochs"
MAX_EPOCH_TRIES = 1000


class BadRecord(ValueError):
    """The file is there but cannot be trusted (torn, tampered, wrong schema)."""


class RecordMissing(FileNotFoundError):
    """No head record has been published yet."""


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
    schema: int = SCHEMA_VERSION

    def live(self, now: float) -> bool:
        """Usable by a worker: not withdrawn and the lease has not run out."""
        return not self.withdrawn and now < self.lease_expires_at

    def identity(self) -> tuple[int, str, str]:
        """What a worker joined: a change in any of these means rejoin."""
        return (self.epoch, self.session_name, self.gcs_address)

    def renewed(self, now: float, lease_seconds: float) -> HeadRecord:
        return replace(self, written_at=now, lease_expires_at=now + lease_seconds)

    def withdraw(self, now: float) -> HeadRecord:
        return replace(self, withdrawn=True, written_at=now, lease_expires_at=now)


def cluster_dir(shared_root: Path) -> Path:
    return Path(shared_root) / "cluster"


def record_path(shared_root: Path) -> Path:
    return cluster_dir(shared_root) / RECORD_NAME


def _digest(body: dict) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


def encode(record: HeadRecord) -> bytes:
    body = asdict(record)
    return (json.dumps({"body": body, "sha256": _digest(body)}, sort_keys=True, indent=1) + "\n").encode()


def decode(data: bytes) -> HeadRecord:
    """Parse and verify; raises :class:`BadRecord` with the reason."""
    try:
        outer = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRecord(f"not valid JSON (torn or partial write?): {exc}") from exc
    if not isinstance(outer, dict) or not isinstance(outer.get("body"), dict):
        raise BadRecord("no 'body' object")
    body = outer["body"]
    if outer.get("sha256") != _digest(body):
        raise BadRecord("checksum does not match the body")
    if body.get("schema") != SCHEMA_VERSION:
        raise BadRecord(f"schema {body.get('schema')!r}, this Argus reads schema {SCHEMA_VERSION}")
    try:
        record = HeadRecord(**body)
    except TypeError as exc:
        raise BadRecord(f"unexpected fields: {exc}") from exc
    if not isinstance(record.epoch, int) or record.epoch < 1:
        raise BadRecord(f"epoch {record.epoch!r} is not a positive integer")
    return record


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Temp file in the same directory, fsync, ``os.replace``, fsync the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def publish(shared_root: Path, record: HeadRecord) -> None:
    write_atomic(record_path(shared_root), encode(record))


def read_record(shared_root: Path) -> HeadRecord:
    """The published record, verified. Raises :class:`RecordMissing` or :class:`BadRecord`."""
    try:
        data = record_path(shared_root).read_bytes()
    except FileNotFoundError as exc:
        raise RecordMissing(f"no head record at {record_path(shared_root)}") from exc
    return decode(data)


def claimed_epochs(shared_root: Path) -> list[int]:
    folder = cluster_dir(shared_root) / EPOCHS_DIR
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(int(n) for n in names if n.isdigit())


def highest_epoch(shared_root: Path) -> int:
    """The highest epoch claimed or published (0 when none)."""
    best = max(claimed_epochs(shared_root), default=0)
    try:
        best = max(best, read_record(shared_root).epoch)
    except (RecordMissing, BadRecord):
        pass
    return best


def allocate_epoch(shared_root: Path, owner: str) -> int:
    """Claim the next epoch: create ``epochs/<n>`` exclusively; on ``EEXIST`` try ``n + 1``."""
    folder = cluster_dir(shared_root) / EPOCHS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    candidate = highest_epoch(shared_root) + 1
    for _ in range(MAX_EPOCH_TRIES):
        try:
            fd = os.open(folder / str(candidate), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
            candidate += 1
            continue
        try:
            os.write(fd, owner.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(folder)
        return candidate
    raise RuntimeError(f"could not claim an epoch in {folder} after {MAX_EPOCH_TRIES} tries; "
                       "is something creating claim files in a loop?")


def withdraw(shared_root: Path, record: HeadRecord, now: float) -> bool:
    """Mark our record withdrawn, unless a newer head has already replaced it."""
    try:
        current = read_record(shared_root)
    except (RecordMissing, BadRecord):
        current = None
    if current is not None and current.epoch != record.epoch:
        log.info("not withdrawing epoch %s: the record now holds epoch %s", record.epoch, current.epoch)
        return False
    publish(shared_root, record.withdraw(now))
    return True


class RecordFollower:
    """What a reader keeps: the last good record, never a lower epoch, garbage ignored."""

    def __init__(self, shared_root: Path):
        self.shared_root = Path(shared_root)
        self.last_good: HeadRecord | None = None
        self.last_error: str = ""

    def poll(self) -> HeadRecord | None:
        """Re-read the file; returns the best record known so far (possibly the old one)."""
        try:
            record = read_record(self.shared_root)
        except (RecordMissing, BadRecord, OSError) as exc:
            self.last_error = str(exc)
            return self.last_good
        if self.last_good is not None and record.epoch < self.last_good.epoch:
            self.last_error = f"ignored a record with epoch {record.epoch} < {self.last_good.epoch}"
            return self.last_good
        self.last_error = ""
        self.last_good = record
        return record
