"""What a worker declares: NVML inventory (with a fake NVML), or what the settings say."""

from __future__ import annotations

import types

import pytest

from worker.resources import GpuInventory, nvml_inventory, resolve, short_model


@pytest.mark.parametrize(("name", "model"), [("NVIDIA H100 80GB HBM3", "H100"), ("Tesla V100-SXM2-32GB", "V100"),
                                             ("NVIDIA A100-SXM4-80GB", "A100"), ("NVIDIA L40S", "L40S"),
                                             ("NVIDIA H20", "H20"), ("NVIDIA RTX 6000 Ada", "RTX")])
def test_short_model(name: str, model: str) -> None:
    assert short_model(name) == model


def fake_nvml(count: int, name: bytes | str = b"NVIDIA H100 80GB HBM3", fail: bool = False):  # noqa: ANN201
    calls = []

    def init() -> None:
        if fail:
            raise RuntimeError("NVML Shared Library Not Found")
        calls.append("init")

    return types.SimpleNamespace(
        nvmlInit=init, nvmlShutdown=lambda: calls.append("shutdown"), nvmlDeviceGetCount=lambda: count,
        nvmlDeviceGetHandleByIndex=lambda i: i, nvmlDeviceGetName=lambda h: name, calls=calls)


def test_nvml_inventory_reads_count_and_model_and_shuts_down() -> None:
    nvml = fake_nvml(8)
    assert nvml_inventory(nvml) == GpuInventory(8, "H100")
    assert nvml.calls == ["init", "shutdown"]
    assert nvml_inventory(fake_nvml(0)) is None
    assert nvml_inventory(fake_nvml(4, fail=True)) is None


def test_settings_win_over_nvml_and_gpu_nodes_get_the_accelerator_resource() -> None:
    found = GpuInventory(8, "A100")
    res = resolve(num_cpus=4, num_gpus=None, gpu_model="", worker_resource="argus_worker", inventory=found)
    assert (res.num_gpus, res.gpu_model) == (8, "A100")
    assert res.custom == {"argus_worker": 1000.0, "accelerator_type:A100": 1.0}
    logical = resolve(num_cpus=2, num_gpus=4, gpu_model="H100", worker_resource="argus_worker", inventory=None)
    assert (logical.num_gpus, logical.custom["accelerator_type:H100"]) == (4, 1.0)
    cpu_only = resolve(num_cpus=2, num_gpus=None, gpu_model="", worker_resource="argus_worker", inventory=None)
    assert cpu_only.num_gpus == 0 and cpu_only.custom == {"argus_worker": 1000.0}
