"""The node exporter inside the worker agent: ``argus worker start --metrics-port N``.

GPU health from NVML (where a driver and GPUs exist), Xid counts, the quarantine flag, CPU and
memory (psutil) and the shared-filesystem probe, on one registry served over HTTP. Values are
read when Prometheus scrapes; the filesystem probe runs in its own thread (worker/fsprobe.py).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator

import psutil
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from worker.fsprobe import FsProbe
from worker.gpustats import GpuSample, Nvml
from worker.xid import XidEvent

GPU_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("argus_node_gpu_utilization_ratio", "utilization", "GPU busy fraction over NVML's last sample period"),
    ("argus_node_gpu_memory_used_bytes", "memory_used", "GPU memory in use"),
    ("argus_node_gpu_memory_total_bytes", "memory_total", "GPU memory in all"),
    ("argus_node_gpu_temperature_celsius", "temperature", "GPU core temperature"),
    ("argus_node_gpu_power_watts", "power", "GPU power draw"),
)


class NodeCollector(Collector):
    def __init__(self, node: str, nvml: Nvml | None, probe: FsProbe | None,
                 quarantined: Callable[[], bool], xids: Counter):
        self.node, self.nvml, self.probe = node, nvml, probe
        self.quarantined = quarantined
        self.xids = xids
        psutil.cpu_percent(interval=None)  # the first call primes the counter

    def collect(self) -> Iterator[Metric]:
        yield self._gauge("argus_node_quarantined", "1 while this node is quarantined (no new work)",
                          float(self.quarantined()))
        yield self._gauge("argus_node_cpu_utilization_ratio", "CPU busy fraction since the last scrape",
                          psutil.cpu_percent(interval=None) / 100.0)
        memory = psutil.virtual_memory()
        yield self._gauge("argus_node_memory_used_bytes", "Host memory in use", float(memory.total - memory.available))
        yield self._gauge("argus_node_memory_total_bytes", "Host memory in all", float(memory.total))
        yield self._gauge("argus_node_load1", "1-minute load average", psutil.getloadavg()[0])
        yield from self._gpus(self.nvml.sample() if self.nvml else [])
        xid = CounterMetricFamily("argus_node_gpu_xid_errors", "Xid errors seen in the kernel log or by NVML",
                                  labels=["gpu", "xid"])
        for (gpu, code), count in sorted(self.xids.items()):
            xid.add_metric([gpu, str(code)], count)
        yield xid
        if self.probe is not None:
            yield from self._probe()

    def _gauge(self, name: str, doc: str, value: float) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, doc, labels=["node"])
        family.add_metric([self.node], value)
        return family

    def _gpus(self, samples: list[GpuSample]) -> Iterator[Metric]:
        up = GaugeMetricFamily("argus_node_gpu_up", "1 when NVML reads the GPU",
                               labels=["node", "gpu", "index", "name"])
        for s in samples:
            up.add_metric([self.node, s.pci, str(s.index), s.name], float(s.up))
        yield up
        for name, attr, doc in GPU_GAUGES:
            family = GaugeMetricFamily(name, doc, labels=["node", "gpu"])
            for s in samples:
                if getattr(s, attr) is not None:
                    family.add_metric([self.node, s.pci], getattr(s, attr))
            yield family
        ecc = CounterMetricFamily("argus_node_gpu_ecc_errors", "ECC errors since the driver loaded (volatile)",
                                  labels=["gpu", "type"])
        for s in samples:
            for kind, value in (("uncorrected", s.ecc_uncorrected), ("corrected", s.ecc_corrected)):
                if value is not None:
                    ecc.add_metric([s.pci, kind], value)
        yield ecc

    def _probe(self) -> Iterator[Metric]:
        seconds = GaugeMetricFamily("argus_shared_fs_probe_seconds", "Last write/fsync/read/stat on the "
                                    "shared root (or how long the one in flight has run)", labels=["op"])
        for op, value in sorted(self.probe.seconds().items()):
            seconds.add_metric([op], value)
        yield seconds
        errors = CounterMetricFamily("argus_shared_fs_probe_errors", "Failed shared-root probe operations",
                                     labels=["op"])
        for op, count in sorted(self.probe.errors.items()):
            errors.add_metric([op], count)
        yield errors
        if self.probe.completed_at is not None:
            yield GaugeMetricFamily("argus_shared_fs_probe_last_success_timestamp_seconds",
                                    "When the last full probe round succeeded", value=self.probe.completed_at)


class NodeExporter:
    """The registry, the Xid counts and the HTTP server of one worker agent."""

    def __init__(self, node: str, nvml: Nvml | None, probe: FsProbe | None, quarantined: Callable[[], bool]):
        self.xids: Counter = Counter()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(NodeCollector(node, nvml, probe, quarantined, self.xids))
        self._server = None
        self._lock = threading.Lock()
        self.started_at = time.time()

    def count_xid(self, event: XidEvent) -> None:
        with self._lock:
            self.xids[(event.gpu, event.xid)] += 1

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics on host:port (0: a free port); returns the port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        return server.server_address[1]

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
