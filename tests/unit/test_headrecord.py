"""The head-record protocol and the worker's decision core, with hostile records."""

from __future__ import annotations

import os
import threading
from dataclasses import replace

import pytest

from argus import headrecord as hr
from worker.decide import Action, Joined, decide

NOW = 1_000_000.0


def rec(epoch=1, session="s1", gcs="10.0.0.1:6379", lease=30.0, **kw) -> hr.HeadRecord:  # noqa: ANN003
    return hr.HeadRecord(epoch=epoch, gcs_address=gcs, dashboard_url=f"http://{gcs.split(':')[0]}:8265",
                         session_name=session, host="h", pid=1, written_at=NOW,
                         lease_expires_at=NOW + lease, **kw)


@pytest.fixture
def path(tmp_path):
    return hr.record_path(tmp_path)


def test_round_trip_and_atomic_write(path):
    hr.write(path, rec())
    assert hr.read(path) == rec()
    assert [p.name for p in path.parent.iterdir()] == ["head.json"]  # no temp file left


@pytest.mark.parametrize("mangle,needle", [
    (lambda b: b[: len(b) // 2], "truncated"),
    (lambda b: b.replace(b'"epoch": 1', b'"epoch": 9'), "checksum"),
    (lambda b: b"", "truncated"),
    (lambda b: b"\x00\xff garbage", "truncated"),
])
def test_hostile_bytes_are_refused(path, mangle, needle):
    hr.write(path, rec())
    path.write_bytes(mangle(path.read_bytes()))
    with pytest.raises(hr.RecordError) as info:
        hr.read(path)
    assert needle in str(info.value)


def test_follower_keeps_the_last_good_record_on_garbage(path):
    follower = hr.Follower()
    hr.write(path, rec(epoch=3))
    assert follower.poll(path, NOW).epoch == 3
    path.write_bytes(b'{"body": {"epoch": 4')
    assert follower.poll(path, NOW).epoch == 3 and "truncated" in follower.last_error


def test_follower_never_goes_back_to_a_lower_epoch(path):
    follower = hr.Follower()
    hr.write(path, rec(epoch=5, session="new"))
    follower.poll(path, NOW)
    hr.write(path, rec(epoch=4, session="old"))  # a fenced old head writes once more
    assert follower.poll(path, NOW).session_name == "new"
    assert "lower" in follower.last_error


def test_expired_lease_and_withdrawn_records_are_not_followed(path):
    follower = hr.Follower()
    hr.write(path, rec(lease=10))
    assert follower.poll(path, NOW + 5) is not None
    assert follower.poll(path, NOW + 11) is None
    hr.write(path, rec(epoch=2, withdrawn=True))
    assert follower.poll(path, NOW) is None


def test_two_heads_writing_alternately_settle_on_the_higher_epoch(path):
    follower = hr.Follower()
    for i in range(6):
        hr.write(path, rec(epoch=7 if i % 2 else 6, session=f"s{i}"))
        follower.poll(path, NOW)
    assert follower.best.epoch == 7


def test_same_size_rewrite_is_seen_because_content_is_reread(path):
    follower = hr.Follower()
    hr.write(path, rec(epoch=1, session="aaaa"))
    stat = os.stat(path)
    follower.poll(path, NOW)
    hr.write(path, rec(epoch=2, session="bbbb"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime
    assert os.stat(path).st_size == stat.st_size
    assert follower.poll(path, NOW).session_name == "bbbb"


def test_epochs_are_unique_under_concurrent_allocation(tmp_path):
    got: list[int] = []
    lock = threading.Lock()

    def claim(i: int) -> None:
        epoch = hr.allocate_epoch(tmp_path, "h", i)
        with lock:
            got.append(epoch)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(got) == list(range(1, 17))
    assert hr.allocate_epoch(tmp_path, "h", 0) == 17


@pytest.mark.parametrize("published,joined,alive,answers,expected", [
    (None, None, False, True, Action.WAIT),
    (rec(), None, False, False, Action.WAIT),
    (rec(), None, False, True, Action.JOIN),
    (rec(), Joined(1, "s1", "10.0.0.1:6379"), True, True, Action.NOOP),
    (rec(), Joined(1, "s1", "10.0.0.1:6379"), False, True, Action.JOIN),
    (rec(epoch=2, gcs="10.0.0.9:6379"), Joined(1, "s1", "10.0.0.1:6379"), True, True, Action.REJOIN),
    (rec(epoch=2, session="s2"), Joined(1, "s1", "10.0.0.1:6379"), True, True, Action.REJOIN),
    (rec(), None, True, True, Action.REJOIN),
])
def test_decision_core(published, joined, alive, answers, expected):
    assert decide(published, joined, alive, answers) is expected


def test_renewal_extends_the_lease_only():
    renewed = rec().renewed(NOW + 10, 30)
    assert renewed.lease_expires_at == NOW + 40 and replace(renewed, written_at=NOW,
                                                            lease_expires_at=NOW + 30) == rec()
