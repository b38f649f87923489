"""What a worker node declares to Ray: CPUs, GPUs (NVML or settings), custom resources, labels."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

_KNOWN_MODELS = ("H200", "H100", "H800", "H20", "A100", "A800", "A10", "L40S", "L40", "L20", "L4",
                 "V100", "T4", "B200", "GB200")


@dataclass(frozen=True)
class GpuInventory:
    count: int
    model: str  # short name: H100, A100, ... ("" when unknown)
    vendor: str = "NVIDIA"


@dataclass(frozen=True)
class NodeResources:
    num_cpus: int
    num_gpus: int
    gpu_model: str = ""
    custom: dict[str, float] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


def short_model(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'H100'; 'Tesla V100-SXM2-32GB' -> 'V100'; unknown -> cleaned."""
    upper = name.upper()
    for model in _KNOWN_MODELS:
        if re.search(rf"(^|[^A-Z0-9]){model}([^A-Z0-9]|$)", upper):
            return model
    words = [w for w in re.split(r"[^A-Z0-9]+", upper) if w and w not in {"NVIDIA", "TESLA", "GEFORCE"}]
    return words[0] if words else ""


def nvml_inventory(nvml=None) -> GpuInventory | None:  # noqa: ANN001 - pynvml module or a fake
    """GPUs NVML sees, or None when there is no driver / no GPU."""
    if nvml is None:
        try:
            import pynvml as nvml  # noqa: PLC0415 - optional at runtime: absent driver is normal
        except ImportError:
            return None
    try:
        nvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound and friends
        log.debug("NVML not available: %s", exc)
        return None
    try:
        count = nvml.nvmlDeviceGetCount()
        if count == 0:
            return None
        name = nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(0))
        name = name.decode() if isinstance(name, bytes) else str(name)
        return GpuInventory(count, short_model(name))
    finally:
        nvml.nvmlShutdown()


def resolve(*, num_cpus: int | None, num_gpus: int | None, gpu_model: str, worker_resource: str,
            inventory: GpuInventory | None) -> NodeResources:
    """Flags and settings win; otherwise what NVML found; otherwise no GPUs."""
    gpus = num_gpus if num_gpus is not None else (inventory.count if inventory else 0)
    model = gpu_model or (inventory.model if inventory else "")
    custom = {worker_resource: 1000.0}
    labels = {"argus.io/node-kind": "worker"}
    if model and gpus:
        custom[f"accelerator_type:{model}"] = 1.0
        labels["argus.io/accelerator-type"] = model
    return NodeResources(num_cpus if num_cpus is not None else (os.cpu_count() or 1), gpus, model,
                         custom, labels)
