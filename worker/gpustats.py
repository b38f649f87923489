"""GPU health from NVML: utilisation, memory, temperature, power, ECC — per GPU, read on demand.

``nvml`` is the ``pynvml`` module (nvidia-ml-py) or a stand-in with the same functions (tests:
there is no GPU on the build machines). A field the GPU does not support is ``None``; a GPU
that stopped answering (Xid 79, fallen off the bus) reads ``up=False``, never an exception.
GPUs are named by PCI address in the kernel's short form (``0000:3b:00``), the form Xid lines use.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

_PCI = re.compile(r"^(?P<domain>[0-9a-fA-F]+):(?P<bus>[0-9a-fA-F]{2}):(?P<dev>[0-9a-fA-F]{2})")


def short_pci(bus_id: str | bytes) -> str:
    """'00000000:3B:00.0' (NVML) or '0000:3b:00' (kernel) -> '0000:3b:00'."""
    text = bus_id.decode() if isinstance(bus_id, bytes) else str(bus_id)
    match = _PCI.match(text.strip())
    if not match:
        return text.strip().lower()
    return f"{int(match['domain'], 16):04x}:{match['bus'].lower()}:{match['dev'].lower()}"


@dataclass(frozen=True)
class GpuSample:
    index: int
    pci: str
    name: str = ""
    uuid: str = ""
    up: bool = True
    utilization: float | None = None  # 0..1
    memory_used: float | None = None  # bytes
    memory_total: float | None = None
    temperature: float | None = None  # Celsius
    power: float | None = None  # watts
    ecc_uncorrected: float | None = None  # volatile (since the driver loaded)
    ecc_corrected: float | None = None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _field(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception:  # noqa: BLE001 - NVMLError_NotSupported and friends: no value for this field
        return None


class Nvml:
    """An initialised NVML session; ``open()`` gives None where there is no driver or no GPU."""

    def __init__(self, nvml: Any):
        self.nvml = nvml
        self.count = 0

    @classmethod
    def open(cls, nvml: Any = None) -> Nvml | None:
        if nvml is None:
            try:
                import pynvml as nvml  # noqa: PLC0415 - optional at runtime: no driver is normal
            except ImportError:
                return None
        try:
            nvml.nvmlInit()
            session = cls(nvml)
            session.count = nvml.nvmlDeviceGetCount()
        except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded
            log.info("NVML not available (%s): no GPU metrics", exc)
            return None
        if session.count == 0:
            session.close()
            return None
        return session

    def close(self) -> None:
        _field(self.nvml.nvmlShutdown)

    def pci_of(self, handle: Any) -> str:
        return short_pci(self.nvml.nvmlDeviceGetPciInfo(handle).busId)

    def sample(self) -> list[GpuSample]:
        return [self._one(i) for i in range(self.count)]

    def _one(self, index: int) -> GpuSample:
        n = self.nvml
        try:
            handle = n.nvmlDeviceGetHandleByIndex(index)
            pci = self.pci_of(handle)
        except Exception as exc:  # noqa: BLE001 - GPU lost
            return GpuSample(index, f"index-{index}", up=False, name=f"unreadable: {exc}")
        util = _field(lambda: n.nvmlDeviceGetUtilizationRates(handle).gpu)
        memory = _field(lambda: n.nvmlDeviceGetMemoryInfo(handle))
        power = _field(lambda: n.nvmlDeviceGetPowerUsage(handle))
        up = memory is not None or util is not None
        return GpuSample(
            index, pci, name=_text(_field(lambda: n.nvmlDeviceGetName(handle)) or ""),
            uuid=_text(_field(lambda: n.nvmlDeviceGetUUID(handle)) or ""), up=up,
            utilization=None if util is None else util / 100.0,
            memory_used=None if memory is None else float(memory.used),
            memory_total=None if memory is None else float(memory.total),
            temperature=_field(lambda: float(n.nvmlDeviceGetTemperature(handle, n.NVML_TEMPERATURE_GPU))),
            power=None if power is None else power / 1000.0,
            ecc_uncorrected=_field(lambda: float(n.nvmlDeviceGetTotalEccErrors(
                handle, n.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, n.NVML_VOLATILE_ECC))),
            ecc_corrected=_field(lambda: float(n.nvmlDeviceGetTotalEccErrors(
                handle, n.NVML_MEMORY_ERROR_TYPE_CORRECTED, n.NVML_VOLATILE_ECC))),
        )
