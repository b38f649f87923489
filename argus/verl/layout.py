"""A verl tree's layout, read from the tree itself: its composed hydra config for every key, and
two facts verl keeps in code (how many CPUs its resource pools reserve beside each GPU, and
which environment variables its 0.4-era ``ray.init`` sets without looking at the job's).

Nothing here looks at a version string: a tree is what its config says it is. These are the
only verl keys Argus names; taskspec receives them as a :class:`taskspec.verl.VerlLayout`.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from argus.verl.compose import base_config, config_mtime, has_config
from taskspec.verl import VerlLayout, WorkloadLayout

PPO_CONFIG, SFT_CONFIG = "ppo_trainer", "sft_trainer_engine"
PPO_MODULE, SFT_MODULE = "verl.trainer.main_ppo", "verl.trainer.sft_trainer_ray"
REWARD_KEYS = ("reward.custom_reward_function", "custom_reward_function")
RAY_INIT_PREFIXES = ("ray_kwargs.ray_init", "ray_init")
SFT_NEEDS = ("this verl tree has no Ray SFT trainer (verl/trainer/sft_trainer_ray.py with "
             "sft_trainer_engine.yaml); sft needs verl 0.7.1 or later (0.7.1 and 0.9.1 have it, "
             "0.4.1 and 0.6.1 do not): choose such a tree in verl.code")

_TRAINER = {
    "nnodes": "trainer.nnodes",
    "gpus_per_node": "trainer.n_gpus_per_node",
    "checkpoint_dir": "trainer.default_local_dir",
    "resume_mode": "trainer.resume_mode",
    "save_freq": "trainer.save_freq",
    "train_files": "data.train_files",
    "val_files": "data.val_files",
    "project": "trainer.project_name",
    "experiment": "trainer.experiment_name",
}
_MODEL = {"ppo": "actor_rollout_ref.model.path", "sft": "model.path"}
_KEEP = {"ppo": ("trainer.max_actor_ckpt_to_keep", "trainer.max_critic_ckpt_to_keep"),
         "sft": ("trainer.max_ckpt_to_keep",)}
REQUIRED = ("nnodes", "gpus_per_node", "checkpoint_dir", "resume_mode", "save_freq", "model",
            "train_files")


def has_key(cfg: DictConfig, key: str) -> bool:
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    return isinstance(node, DictConfig) and leaf in node


def read_layout(tree_path: str | Path) -> VerlLayout:
    """The layout of the verl tree at ``tree_path`` (cached until its config directory changes)."""
    path = str(Path(tree_path).resolve())
    if not has_config(path, PPO_CONFIG):
        raise ValueError(f"'{tree_path}' is not a verl source tree "
                         f"(no verl/trainer/config/{PPO_CONFIG}.yaml)")
    return _read_layout(path, config_mtime(path))


@lru_cache(maxsize=32)
def _read_layout(path: str, _mtime: float) -> VerlLayout:
    ppo = base_config(path, PPO_CONFIG)
    workloads, unsupported = {}, {}
    prefix = next((p for p in RAY_INIT_PREFIXES if isinstance(OmegaConf.select(ppo, p), DictConfig)), "")
    for name, config, module in (("ppo", PPO_CONFIG, PPO_MODULE), ("sft", SFT_CONFIG, SFT_MODULE)):
        if name == "sft" and not (has_config(path, SFT_CONFIG)
                                  and (Path(path) / "verl" / "trainer" / "sft_trainer_ray.py").is_file()):
            unsupported[name] = SFT_NEEDS
            continue
        cfg = ppo if name == "ppo" else base_config(path, config)
        layout = _workload(cfg, name, config, module, prefix if name == "ppo" else "")
        missing = [r for r in REQUIRED if r not in layout.keys]
        if missing:
            unsupported[name] = (f"verl's {config} config in this tree has no "
                                 f"{', '.join(repr(_role_key(name, r)) for r in missing)}; "
                                 "Argus cannot run this workload from it")
        else:
            workloads[name] = layout
    return VerlLayout(
        workloads=workloads, unsupported=unsupported, ray_init_prefix=prefix,
        cpus_per_gpu=_cpus_per_gpu(Path(path)), ray_init_env=_fixed_ray_init_env(Path(path)),
        description=_describe(ppo, prefix, workloads),
    )


def _role_key(workload: str, role: str) -> str:
    return _MODEL[workload] if role == "model" else _TRAINER[role]


def _workload(cfg: DictConfig, name: str, config: str, module: str, prefix: str) -> WorkloadLayout:
    keys = {role: key for role, key in {**_TRAINER, "model": _MODEL[name]}.items() if has_key(cfg, key)}
    reward = next((k for k in REWARD_KEYS if has_key(cfg, k)), None) if name == "ppo" else None
    if reward:
        keys["reward"] = reward
    if prefix and has_key(cfg, f"{prefix}.runtime_env.py_executable"):
        keys["py_executable"] = f"{prefix}.runtime_env.py_executable"
    keep = tuple(k for k in _KEEP[name] if has_key(cfg, k))
    return WorkloadLayout(module=module, config=config, keys=keys, keep_keys=keep)


def _describe(ppo: DictConfig, prefix: str, workloads: dict[str, WorkloadLayout]) -> str:
    parts = [f"reward key {workloads['ppo'].keys.get('reward', '-')}" if "ppo" in workloads else "no ppo"]
    ppo_keys = workloads["ppo"].keys if "ppo" in workloads else {}
    parts.append(f"Ray settings {prefix or '-'}.*" + (" with runtime_env.py_executable"
                                                        if "py_executable" in ppo_keys else ""))
    parts.append("Ray SFT trainer" if "sft" in workloads else "no Ray SFT trainer")
    return "; ".join(parts)


def _cpus_per_gpu(tree: Path) -> int:
    """``max_colocate_count`` of verl's ResourcePoolManager: the CPUs each GPU bundle reserves
    (1 up to 0.6, 3 from 0.7). Read from the tree's code (its class attribute, or the literal it
    passes to RayResourcePool); 1 when it cannot be found."""
    for rel in ("verl/single_controller/ray/base.py", "verl/trainer/ppo/ray_trainer.py"):
        try:
            module = ast.parse((tree / rel).read_text())
        except (OSError, SyntaxError):
            continue
        for cls in ast.walk(module):
            if isinstance(cls, ast.ClassDef) and cls.name == "ResourcePoolManager":
                found = _colocate_literal(cls)
                if found:
                    return found
    return 1


def _colocate_literal(cls: ast.ClassDef) -> int | None:
    for node in ast.walk(cls):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and node.target.id == "max_colocate_count" and isinstance(node.value, ast.Constant)):
            return int(node.value.value)
        if isinstance(node, ast.keyword) and node.arg == "max_colocate_count" \
                and isinstance(node.value, ast.Constant):
            return int(node.value.value)
    return None


def _fixed_ray_init_env(tree: Path) -> tuple[str, ...]:
    """Environment variables verl's ``run_ppo`` passes to ``ray.init`` as a literal (0.4–0.5).

    Ray refuses to merge a job whose own env_vars name any of them. Later layouts filter verl's
    defaults against the driver's environment (``get_ppo_ray_runtime_env``), so nothing is fixed."""
    try:
        module = ast.parse((tree / "verl" / "trainer" / "main_ppo.py").read_text())
    except (OSError, SyntaxError):
        return ()
    for node in ast.walk(module):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "init" and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "ray"):
            continue
        for kw in node.keywords:
            if kw.arg == "runtime_env" and isinstance(kw.value, ast.Dict):
                try:
                    env = ast.literal_eval(kw.value).get("env_vars", {})
                except ValueError:
                    return ()
                return tuple(sorted(env))
    return ()


