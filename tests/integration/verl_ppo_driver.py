"""A verl PPO driver for the real-Ray layout test: verl's own Ray start-up, without its GPU stack.

Run as ``<tree python> verl_ppo_driver.py <the overrides Argus compiled>`` in place of
``python -m verl.trainer.main_ppo``. What is verl's own, from the tree found on ``PYTHONPATH``:
hydra composes the tree's ``ppo_trainer`` config from the command line (``hydra.main``, writing
``outputs/…/.hydra`` into the current directory, as verl's main does); ``run_ppo`` is the tree's
own function (its source from ``verl/trainer/main_ppo.py``, executed unchanged) with the tree's
own ``get_ppo_ray_runtime_env``. Stand-ins: ``torch`` and ``verl.utils.device`` (GPU probing), and
the TaskRunner, which reports the interpreter it and a task it starts run with (into
``$VERL_PROBE_OUT``) instead of training.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import os
import sys
import types
from pathlib import Path

import hydra
import ray
from omegaconf import OmegaConf

VERL = Path(importlib.util.find_spec("verl").submodule_search_locations[0])  # the tree, via PYTHONPATH


def _stand_ins() -> None:
    torch = types.ModuleType("torch")
    torch.version = types.SimpleNamespace(hip=None, cuda=None)
    device = types.ModuleType("verl.utils.device")
    device.get_device_capability = lambda *a, **k: (None, None)
    device.is_cuda_available = False
    sys.modules.update({"torch": torch, "verl.utils.device": device})


def _verl_module(rel: str, name: str) -> types.ModuleType | None:
    """One module of the tree, loaded from its file (verl's package __init__ needs its GPU deps)."""
    path = VERL / rel
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@ray.remote
def _where() -> str:
    return sys.executable


class Runner:
    """Stands in for verl's TaskRunner: runs where verl's would and starts one more task."""

    driver_cwd = ""  # set by the driver before Ray ships the class

    def run(self, config) -> None:  # noqa: ANN001
        report = {"runner_python": sys.executable, "task_python": ray.get(_where.remote()),
                  "nnodes": config.trainer.nnodes, "driver_cwd": self.driver_cwd}
        Path(os.environ["VERL_PROBE_OUT"]).write_text(json.dumps(report))


def _run_ppo():  # noqa: ANN202
    """The tree's own run_ppo, with the names its module would give it."""
    source = (VERL / "trainer" / "main_ppo.py").read_text()
    fn = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == "run_ppo")
    constants = _verl_module("trainer/constants_ppo.py", "verl.trainer.constants_ppo")
    names = {"ray": ray, "OmegaConf": OmegaConf, "os": os, "is_cuda_available": False,
             "is_nvtx_available": lambda: False,
             "get_ppo_ray_runtime_env": getattr(constants, "get_ppo_ray_runtime_env", None)}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), str(VERL / "trainer" / "main_ppo.py"), "exec"), names)  # noqa: S102
    return names


def main(config) -> None:  # noqa: ANN001
    Runner.driver_cwd = os.getcwd()
    names = _run_ppo()
    run_ppo = names["run_ppo"]
    params = inspect.signature(run_ppo).parameters
    if "task_runner_class" not in params:  # 0.4: a module-level @ray.remote(num_cpus=1) TaskRunner
        names["TaskRunner"] = ray.remote(num_cpus=1)(Runner)
        run_ppo(config)
    elif params["task_runner_class"].default is None:  # 0.6-0.8: run_ppo wraps TaskRunner itself
        names["TaskRunner"] = Runner
        run_ppo(config)
    else:  # 0.9: main passes a @ray.remote TaskRunner
        run_ppo(config, task_runner_class=ray.remote(Runner))


if __name__ == "__main__":
    _stand_ins()
    hydra.main(config_path=str(VERL / "trainer" / "config"), config_name="ppo_trainer", version_base=None)(main)()
