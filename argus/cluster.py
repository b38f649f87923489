"""Where the Ray cluster is. A provider answers "which cluster, which epoch" on every tick.

``StaticCluster`` uses ``ARGUS_RAY_ADDRESS``. The head-record provider (node pool) follows
``<shared root>/cluster/head.json`` and bumps the epoch when the head changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from argus.ray_adapter import RayCluster


@dataclass(frozen=True)
class ClusterRef:
    cluster: RayCluster | None  # None: no usable head known right now
    epoch: int | None = None
    why_not: str = ""


class ClusterProvider(Protocol):
    def current(self) -> ClusterRef: ...


class StaticCluster:
    def __init__(self, address: str):
        self._cluster = RayCluster(address)

    def current(self) -> ClusterRef:
        return ClusterRef(self._cluster, None)
