"""The control plane's provider follows the head record and its epoch."""

from __future__ import annotations

from pathlib import Path

from argus import headrecord as hr
from argus.cluster import HeadRecordCluster, StaticCluster
from argus.nodepool import ensure_token


def rec(epoch: int, url: str, *, lease: float = 30, withdrawn: bool = False) -> hr.HeadRecord:
    return hr.HeadRecord(epoch=epoch, gcs_address="h:6379", dashboard_url=url, session_name=f"s{epoch}",
                         host="h", pid=1, written_at=100.0, lease_expires_at=100.0 + lease, withdrawn=withdrawn)


def test_falls_back_until_a_record_appears_then_follows_epochs(tmp_path: Path) -> None:
    clock = [110.0]
    provider = HeadRecordCluster(tmp_path, fallback=StaticCluster("http://static:8265"), clock=lambda: clock[0])
    assert provider.current().cluster.address == "http://static:8265"
    ensure_token(tmp_path)
    hr.publish(tmp_path, rec(1, "http://a:8265"))
    ref = provider.current()
    assert (ref.cluster.address, ref.epoch) == ("http://a:8265", 1)
    assert ref.cluster.headers["Authorization"].startswith("Bearer ")
    hr.publish(tmp_path, rec(2, "http://b:8265"))
    assert (provider.current().cluster.address, provider.current().epoch) == ("http://b:8265", 2)
    hr.record_path(tmp_path).write_text("{garbage")
    assert provider.current().epoch == 2, "garbage keeps the last good record"
    hr.publish(tmp_path, rec(1, "http://a:8265"))
    assert provider.current().epoch == 2, "never back to a lower epoch"


def test_withdrawn_or_expired_means_no_cluster_with_a_reason(tmp_path: Path) -> None:
    clock = [110.0]
    provider = HeadRecordCluster(tmp_path, clock=lambda: clock[0])
    assert provider.current().cluster is None and "argus head start" in provider.current().why_not
    hr.publish(tmp_path, rec(3, "http://c:8265"))
    clock[0] = 200.0
    ref = provider.current()
    assert ref.cluster is None and ref.epoch == 3 and "expired" in ref.why_not
    hr.publish(tmp_path, rec(3, "http://c:8265", withdrawn=True))
    assert "withdrew" in provider.current().why_not
