"""The head-record protocol against hostile files: torn, tampered, stale, racing."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from argus import headrecord as hr


def rec(epoch: int = 1, *, now: float = 1000.0, lease: float = 30.0, session: str = "s1",
        gcs: str = "10.0.0.2:6379") -> hr.HeadRecord:
    return hr.HeadRecord(epoch=epoch, gcs_address=gcs, dashboard_url="http://10.0.0.2:8265",
                         session_name=session, host="h", pid=42, written_at=now,
                         lease_expires_at=now + lease)


def test_round_trip_and_file_shape(tmp_path: Path) -> None:
    hr.publish(tmp_path, rec(3))
    raw = json.loads(hr.record_path(tmp_path).read_text())
    assert set(raw) == {"body", "sha256"}
    assert raw["body"]["schema"] == hr.SCHEMA_VERSION
    assert hr.read_record(tmp_path) == rec(3)
    assert not list(hr.cluster_dir(tmp_path).glob(".*.tmp")), "temp file left behind"


def test_truncated_json_is_rejected_and_follower_keeps_last_good(tmp_path: Path) -> None:
    follower = hr.RecordFollower(tmp_path)
    hr.publish(tmp_path, rec(1))
    assert follower.poll() == rec(1)
    data = hr.encode(rec(2))
    hr.record_path(tmp_path).write_bytes(data[: len(data) // 2])
    with pytest.raises(hr.BadRecord, match="not valid JSON"):
        hr.read_record(tmp_path)
    assert follower.poll() == rec(1)
    assert "JSON" in follower.last_error


def test_bad_checksum_is_rejected(tmp_path: Path) -> None:
    follower = hr.RecordFollower(tmp_path)
    hr.publish(tmp_path, rec(1))
    follower.poll()
    outer = json.loads(hr.encode(rec(2)))
    outer["body"]["gcs_address"] = "6.6.6.6:6379"  # tampered after the checksum was taken
    hr.record_path(tmp_path).write_text(json.dumps(outer))
    with pytest.raises(hr.BadRecord, match="checksum"):
        hr.read_record(tmp_path)
    assert follower.poll() == rec(1)


def test_wrong_schema_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(hr.RecordMissing):
        hr.read_record(tmp_path)
    body = {**rec(1).__dict__, "schema": 99}
    outer = {"body": body, "sha256": hr._digest(body)}
    hr.record_path(tmp_path).parent.mkdir(parents=True)
    hr.record_path(tmp_path).write_text(json.dumps(outer))
    with pytest.raises(hr.BadRecord, match="schema 99"):
        hr.read_record(tmp_path)


def test_lower_epoch_is_never_followed(tmp_path: Path) -> None:
    follower = hr.RecordFollower(tmp_path)
    hr.publish(tmp_path, rec(5))
    assert follower.poll().epoch == 5
    hr.publish(tmp_path, rec(4, session="old"))
    assert follower.poll().epoch == 5
    assert "epoch 4 < 5" in follower.last_error


def test_expired_lease_and_withdrawn_are_not_live(tmp_path: Path) -> None:
    record = rec(1, now=1000.0, lease=30.0)
    assert record.live(1029.9)
    assert not record.live(1030.0)
    hr.publish(tmp_path, record)
    assert hr.withdraw(tmp_path, record, now=1010.0)
    back = hr.read_record(tmp_path)
    assert back.withdrawn and not back.live(1010.0)


def test_withdraw_leaves_a_newer_head_alone(tmp_path: Path) -> None:
    hr.publish(tmp_path, rec(2))
    assert not hr.withdraw(tmp_path, rec(1), now=1001.0)
    assert hr.read_record(tmp_path) == rec(2)


def test_two_heads_writing_alternately(tmp_path: Path) -> None:
    """An old head that has not noticed it was replaced keeps renewing: readers stay on the new one."""
    follower = hr.RecordFollower(tmp_path)
    old, new = rec(1, session="old"), rec(2, session="new", gcs="10.0.0.9:6379")
    for i in range(6):
        hr.publish(tmp_path, (old if i % 2 == 0 else new).renewed(1000.0 + i, 30))
        seen = follower.poll()
    assert seen.session_name == "new" and seen.written_at == 1005.0
    hr.publish(tmp_path, old.renewed(1010.0, 30))
    assert follower.poll().session_name == "new"
    assert hr.read_record(tmp_path).epoch == 1, "the file holds the stale write; readers ignore it"


def test_same_size_rewrite_with_same_mtime_is_seen(tmp_path: Path) -> None:
    """Readers re-read the bytes on a timer; an in-place rewrite of equal size is not missed."""
    follower = hr.RecordFollower(tmp_path)
    hr.publish(tmp_path, rec(1, session="aaaa"))
    path = hr.record_path(tmp_path)
    stat = path.stat()
    follower.poll()
    new = hr.encode(rec(2, session="bbbb"))
    assert len(new) == stat.st_size
    with open(path, "r+b") as fh:  # in place, no rename
        fh.write(new)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    assert follower.poll().session_name == "bbbb"


def test_epoch_allocation_is_exclusive_under_races(tmp_path: Path) -> None:
    got: list[int] = []
    lock = threading.Lock()

    def claim() -> None:
        for _ in range(5):
            epoch = hr.allocate_epoch(tmp_path, "t")
            with lock:
                got.append(epoch)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(got) == list(range(1, 41)), "every epoch claimed exactly once"


def test_epoch_goes_past_a_published_record(tmp_path: Path) -> None:
    hr.publish(tmp_path, rec(7))  # e.g. the claims folder was lost but the record survived
    assert hr.allocate_epoch(tmp_path, "x") == 8
