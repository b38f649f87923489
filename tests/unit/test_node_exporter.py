"""The node exporter's parts: NVML reading (a fake NVML: no GPU here), the real NVML adapter where
there is no driver, the shared-FS probe on a real directory, Xid parsing and the served registry."""

from __future__ import annotations

import threading
import types
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from worker.exporter import NodeExporter
from worker.fsprobe import OPS, FsProbe
from worker.gpustats import Nvml, short_pci
from worker.xid import FATAL_XIDS, XidEvent, nvml_xid_events, parse_xid

# Lines as the NVIDIA driver writes them to the kernel log (dmesg / journalctl -k).
XID_79 = ("[1234567.890123] NVRM: Xid (PCI:0000:3b:00): 79, pid=2817, name=python, "
          "GPU has fallen off the bus.")
XID_13 = "NVRM: Xid (PCI:0000:86:00): 13, pid='<unknown>', name=<unknown>, Graphics Exception: ESR 0x50"
XID_48 = "kernel: NVRM: Xid (PCI:0001:1A:00): 48, pid=9, name=python, An uncorrectable double bit error"


class NvmlError(Exception):
    pass


def fake_nvml(lost: set[int] = frozenset(), no_power: bool = False):  # noqa: ANN201
    """The pynvml functions the exporter calls, over two GPUs."""
    def handle(i: int) -> int:
        return i

    def need(h: int) -> int:
        if h in lost:
            raise NvmlError("GPU is lost")
        return h

    def power(h: int) -> int:
        if no_power:
            raise NvmlError("Not Supported")
        return 350_000 + need(h)

    return types.SimpleNamespace(
        nvmlInit=lambda: None, nvmlShutdown=lambda: None, nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=handle,
        nvmlDeviceGetPciInfo=lambda h: types.SimpleNamespace(busId=[b"00000000:3B:00.0", b"00000000:86:00.0"][h]),
        nvmlDeviceGetName=lambda h: b"NVIDIA H100 80GB HBM3", nvmlDeviceGetUUID=lambda h: f"GPU-{h}",
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=[87, 5][need(h)]),
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(used=need(h) * 10 + 40 * 2**30, total=80 * 2**30),
        nvmlDeviceGetTemperature=lambda h, kind: 61 + need(h), nvmlDeviceGetPowerUsage=power,
        nvmlDeviceGetTotalEccErrors=lambda h, kind, counter: float(need(h) + kind),
        NVML_TEMPERATURE_GPU=0, NVML_MEMORY_ERROR_TYPE_CORRECTED=0, NVML_MEMORY_ERROR_TYPE_UNCORRECTED=1,
        NVML_VOLATILE_ECC=0, NVMLError_Timeout=TimeoutError)


def test_xid_lines_parse_into_gpu_and_code() -> None:
    assert parse_xid(XID_79) == XidEvent("0000:3b:00", 79, "pid=2817, name=python, GPU has fallen off the bus.")
    assert parse_xid(XID_13).xid == 13 and 13 not in FATAL_XIDS
    assert parse_xid(XID_48).gpu == "0001:1a:00" and 48 in FATAL_XIDS
    assert parse_xid("NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.54.15") is None
    assert parse_xid(XID_79).describe() == "Xid 79 on GPU 0000:3b:00 (GPU has fallen off the bus)"
    assert short_pci("00000000:3B:00.0") == short_pci(b"0000:3b:00") == "0000:3b:00"


def test_nvml_samples_every_gpu_and_marks_a_lost_one_down() -> None:
    session = Nvml.open(fake_nvml(lost={1}, no_power=True))
    first, second = session.sample()
    assert (first.pci, first.utilization, first.temperature, first.memory_total) == ("0000:3b:00", 0.87, 61.0, 80 * 2**30)
    assert first.power is None and first.ecc_uncorrected == 1.0 and first.up
    assert second.pci == "0000:86:00" and not second.up and second.memory_used is None


def test_real_nvml_adapter_without_a_driver_gives_no_session() -> None:
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        pytest.skip("this machine has an NVIDIA driver; the no-driver path is not reachable")
    except pynvml.NVMLError:
        pass
    assert Nvml.open() is None  # the real module, the real library lookup: no exception escapes


def test_nvml_xid_events_are_read_until_stopped() -> None:
    nvml = fake_nvml()
    stop = threading.Event()
    queue = [TimeoutError(), types.SimpleNamespace(device=0, eventData=79)]

    def wait(_events, _ms):  # noqa: ANN001, ANN202
        item = queue.pop(0) if queue else TimeoutError()
        if not queue:
            stop.set()
        if isinstance(item, Exception):
            raise item
        return item

    registered = []
    nvml.nvmlEventSetCreate, nvml.nvmlEventSetFree = (lambda: "set"), (lambda s: registered.append("freed"))
    nvml.nvmlDeviceRegisterEvents = lambda h, kind, s: registered.append(h)
    nvml.nvmlEventTypeXidCriticalError, nvml.nvmlEventSetWait = 8, wait
    session = Nvml.open(nvml)
    events = list(nvml_xid_events(nvml, 2, stop, session.pci_of))
    assert events == [XidEvent("0000:3b:00", 79, "reported by NVML")] and registered == [0, 1, "freed"]


def test_fs_probe_times_each_operation_on_a_real_directory(tmp_path: Path) -> None:
    probe = FsProbe(tmp_path, name="w1")
    assert probe.once()
    assert set(probe.seconds()) == set(OPS) and all(v >= 0 for v in probe.seconds().values())
    assert probe.completed_at is not None and probe.path.read_bytes()
    probe.path.unlink()
    probe.dir.rmdir()
    probe.dir.write_text("not a directory")  # the shared root is broken: the write fails, counted
    assert not probe.once() and probe.errors["write"] == 1


def test_exporter_serves_gpu_node_xid_and_probe_metrics(tmp_path: Path) -> None:
    probe = FsProbe(tmp_path, name="w1")
    probe.once()
    quarantined = [False]
    exporter = NodeExporter("w1", Nvml.open(fake_nvml()), probe, lambda: quarantined[0])
    port = exporter.serve("127.0.0.1", 0)
    try:
        exporter.count_xid(parse_xid(XID_79))
        quarantined[0] = True
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        exporter.close()
    found = {(s.name, frozenset(s.labels.items())): s.value
             for f in text_string_to_metric_families(text) for s in f.samples}
    assert found[("argus_node_gpu_xid_errors_total", frozenset({("gpu", "0000:3b:00"), ("xid", "79")}))] == 1
    assert found[("argus_node_quarantined", frozenset({("node", "w1")}))] == 1
    assert found[("argus_node_gpu_utilization_ratio", frozenset({("node", "w1"), ("gpu", "0000:3b:00")}))] == 0.87
    assert found[("argus_node_gpu_power_watts", frozenset({("node", "w1"), ("gpu", "0000:86:00")}))] == 350.001
    assert found[("argus_node_gpu_ecc_errors_total", frozenset({("gpu", "0000:3b:00"), ("type", "uncorrected")}))] == 1
    assert found[("argus_node_memory_total_bytes", frozenset({("node", "w1")}))] > 0
    assert ("argus_shared_fs_probe_seconds", frozenset({("op", "fsync")})) in found
    names = {name for name, _ in found}
    assert {"argus_node_cpu_utilization_ratio", "argus_node_gpu_temperature_celsius",
            "argus_node_gpu_memory_used_bytes", "argus_shared_fs_probe_last_success_timestamp_seconds"} <= names
    assert Counter(exporter.xids) == Counter({("0000:3b:00", 79): 1})
