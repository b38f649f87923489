"""Where the Ray cluster is. A provider answers "which cluster, which epoch" on every tick.

``StaticCluster`` uses ``ARGUS_RAY_ADDRESS``. The head-record provider (node pool) follows
``<shared root>/cluster/head.json`` and bumps the epoch when the head changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from argus.headrecord import RecordFollower, record_path
from argus.nodepool import auth_headers, read_token
from argus.ray_adapter import RayCluster

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterRef:
    cluster: RayCluster | None  # None: no usable head known right now
    epoch: int | None = None
    why_not: str = ""


class ClusterProvider(Protocol):
    def current(self) -> ClusterRef: ...


class StaticCluster:
    def __init__(self, address: str, *, timeout_s: float = 10.0):
        self._cluster = RayCluster(address, timeout_s=timeout_s)

    def current(self) -> ClusterRef:
        return ClusterRef(self._cluster, None)


class HeadRecordCluster:
    """Follows ``<shared root>/cluster/head.json``; the cluster epoch is the record's epoch.

    Until a record has ever been seen it answers with ``fallback`` (``ARGUS_RAY_ADDRESS``), so a
    shared root without a node pool still works. Once a record is seen it is followed: a new epoch
    gives a new :class:`RayCluster` (with the Ray token from the shared root), and attempts
    submitted under an older epoch are LOST for the reconciler. Garbage and lower epochs are
    ignored (the last good record stays); a withdrawn head or an expired lease means "no cluster
    now", with the reason.
    """

    def __init__(self, shared_root: Path, *, fallback: ClusterProvider | None = None,
                 clock: Callable[[], float] = time.time, timeout_s: float = 10.0):
        self._root = Path(shared_root)
        self._timeout_s = timeout_s
        self._follower = RecordFollower(self._root)
        self._fallback = fallback
        self._clock = clock
        self._cluster: RayCluster | None = None
        self._identity: tuple | None = None

    def current(self) -> ClusterRef:
        record = self._follower.poll()
        if record is None:
            if self._fallback is not None:
                return self._fallback.current()
            return ClusterRef(None, None, f"no head record at {record_path(self._root)} yet "
                                          "(start one with `argus head start --shared-root DIR`)")
        if record.withdrawn:
            return ClusterRef(None, record.epoch, f"the head of epoch {record.epoch} withdrew; "
                                                  "waiting for a new head to publish itself")
        if not record.live(self._clock()):
            return ClusterRef(None, record.epoch, f"the lease of head epoch {record.epoch} "
                                                  f"({record.dashboard_url}) has expired")
        if record.identity() != self._identity:
            log.info("cluster: following head epoch %s at %s", record.epoch, record.dashboard_url)
            self._cluster = RayCluster(record.dashboard_url, headers=auth_headers(read_token(self._root)),
                                       timeout_s=self._timeout_s)
            self._identity = record.identity()
        return ClusterRef(self._cluster, record.epoch)
