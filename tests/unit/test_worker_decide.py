"""The worker's decision core, driven with plain values (no Ray, no files, no clock)."""

from __future__ import annotations

import random

from argus.headrecord import HeadRecord
from worker.decide import Action, backoff_seconds, decide

NOW = 1000.0


def head(epoch: int = 1, session: str = "s1", gcs: str = "10.0.0.2:6379", *, lease: float = 30.0,
         withdrawn: bool = False) -> HeadRecord:
    return HeadRecord(epoch=epoch, gcs_address=gcs, dashboard_url="http://x:8265", session_name=session,
                      host="h", pid=1, written_at=NOW - 1, lease_expires_at=NOW + lease, withdrawn=withdrawn)


def act(*args, **kw) -> Action:  # noqa: ANN002, ANN003
    return decide(*args, **kw).action


def test_first_join_and_steady_state() -> None:
    assert act(head(), None, False, NOW) is Action.JOIN
    assert act(head(), head(), True, NOW) is Action.NOOP


def test_no_record_waits_or_keeps_what_runs() -> None:
    assert act(None, None, False, NOW) is Action.WAIT
    assert act(None, head(), True, NOW) is Action.NOOP


def test_new_epoch_new_session_new_address_rejoin() -> None:
    assert act(head(2), head(1), True, NOW) is Action.REJOIN
    assert act(head(1, session="s2"), head(1), True, NOW) is Action.REJOIN
    assert act(head(1, gcs="10.0.0.3:6379"), head(1), True, NOW) is Action.REJOIN
    # the old raylet already died (head gone past its reconnect timeout): straight join
    assert act(head(2), head(1), False, NOW) is Action.JOIN
    assert "epoch 1 -> 2" in decide(head(2), head(1), True, NOW).reason


def test_unprobed_new_head_is_not_acted_on() -> None:
    assert act(head(2), head(1), True, NOW, probed_ok=False) is Action.WAIT
    assert act(head(1), head(1), True, NOW, probed_ok=False) is Action.NOOP


def test_expired_lease_is_not_joined_but_a_running_raylet_is_kept() -> None:
    stale = head(2, lease=-1)
    assert act(stale, None, False, NOW) is Action.WAIT
    assert act(stale, head(1), True, NOW) is Action.NOOP


def test_withdrawn_head_leaves() -> None:
    gone = head(1, withdrawn=True)
    assert act(gone, head(1), True, NOW) is Action.LEAVE
    assert act(gone, head(1), False, NOW) is Action.WAIT


def test_dead_child_rejoins_after_backoff() -> None:
    assert act(head(), head(), False, NOW, backoff_until=NOW + 5) is Action.WAIT
    assert act(head(), head(), False, NOW, backoff_until=NOW - 1) is Action.JOIN


def test_quarantine_keeps_the_node_out() -> None:
    assert act(head(), head(), True, NOW, quarantined=True) is Action.LEAVE
    assert act(head(2), head(), False, NOW, quarantined=True) is Action.WAIT
    assert "flag" in decide(head(), None, False, NOW, quarantined=True).reason


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(7)
    values = [backoff_seconds(n, base=1, cap=8, rng=rng) for n in range(10)]
    assert all(0.5 <= v <= 8 for v in values)
    assert len({round(v, 6) for v in values}) == len(values), "jitter: no two the same"
    assert max(backoff_seconds(0, base=1, cap=8, rng=random.Random(i)) for i in range(50)) <= 1.0
