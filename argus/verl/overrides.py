"""The user's verl overrides: sealed against what Argus owns, then composed with the tree's config.

Sealing refuses, before anything is queued, an override that would undo what Argus admitted or
set: a key Argus owns or any ancestor of one, a key that adds a GPU pool Argus did not count,
``num_cpus``/``num_gpus`` for ``ray.init`` (Ray refuses them when attaching to a running
cluster), any addition under ``ray.init``'s arguments or its ``runtime_env``, and ``hydra.*``.
Every refusal names the override (``verl.overrides.N``) and says why. Path-valued overrides are
returned for the owner's path policy (``argus.services.paths``); a value relative to the tree is
refused here, since each attempt runs in a directory of its own, never in the tree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from argus.verl.layout import REWARD_KEYS
from taskspec import SpecIssue
from taskspec.verl import OVERRIDABLE_ROLES, VerlLayout, WorkloadLayout

POOL_LEAVES = ("nnodes", "n_gpus_per_node", "enable_resource_pool")
RAY_INIT_ROOTS = ("ray_init", "ray_kwargs.ray_init")
_SOURCES = {
    "nnodes": "from resources.nodes",
    "gpus_per_node": "from resources.gpus_per_node",
    "checkpoint_dir": "to the task's checkpoint directory",
    "resume_mode": "(always auto, so that a new attempt resumes)",
    "save_freq": "from checkpoint.save_freq",
    "model": "from verl.model",
    "train_files": "from verl.train_files",
    "val_files": "from verl.val_files",
    "reward": "from verl.reward",
    "py_executable": "to the tree's checked interpreter",
    "keep": "from checkpoint.keep",
}


@dataclass
class Sealed:
    issues: list[SpecIssue] = field(default_factory=list)
    paths: list[tuple[str, str]] = field(default_factory=list)  # (field, absolute path) for the policy


def owned_keys(workload: WorkloadLayout) -> dict[str, str]:
    """Every key Argus sets for this workload, with where its value comes from."""
    owned = {key: _SOURCES[role] for role, key in workload.keys.items()
             if role not in OVERRIDABLE_ROLES and role != "reward"}
    owned.update({key: _SOURCES["keep"] for key in workload.keep_keys})
    return owned


def seal(layout: VerlLayout, workload: str, overrides: list[str], tree_path: str) -> Sealed:
    out = Sealed()
    wl = layout.workloads.get(workload)
    if wl is None:
        return out
    owned = owned_keys(wl)
    parser = OverridesParser.create()
    for i, text in enumerate(overrides):
        where = f"verl.overrides.{i}"
        try:
            parsed = parser.parse_override(text)
        except HydraException as exc:
            out.issues.append(SpecIssue(where, f"'{text}' is not a hydra override hydra can read: {exc}"))
            continue
        key, value = parsed.key_or_group, parsed.value()
        why = _refusal(key, value, parsed.is_add() or parsed.is_force_add(), owned, layout)
        if why:
            out.issues.append(SpecIssue(where, f"'{key}' {why}"))
            continue
        for item in _strings(value):
            problem = _path_value(item, tree_path)
            if problem:
                out.issues.append(SpecIssue(where, problem))
            elif item.startswith("/"):
                out.paths.append((where, item))
    return out


def _refusal(key: str, value: Any, adds: bool, owned: dict[str, str], layout: VerlLayout) -> str:
    if key == "hydra" or key.startswith(("hydra.", "hydra/")):
        return ("is hydra's own setting (where the driver writes and logs); Argus runs each "
                "attempt in a directory of its own: remove this override")
    below = sorted(k for k in owned if k.startswith(key + "."))
    if below:
        return (f"would replace {', '.join(below[:3])}{' …' if len(below) > 3 else ''}, which Argus "
                "sets; override only the leaf keys you mean (e.g. trainer.total_epochs=…)")
    for full, leaf_value in _expand(key, value):
        why = _refusal_of_key(full, leaf_value, adds, owned, layout)
        if why:
            return why if full == key else f"sets '{full}', which {why.removeprefix('is ')}"
    return ""


def _refusal_of_key(key: str, value: Any, adds: bool, owned: dict[str, str], layout: VerlLayout) -> str:
    mine = next((k for k in owned if key == k or key.startswith(k + ".")), None)
    if mine:
        return f"is set by Argus {owned[mine]}; remove this override"
    if any(key == r or key.startswith(r + ".") for r in REWARD_KEYS):
        return "is set by Argus from verl.reward (either spelling); write the reward in verl.reward"
    root = next((r for r in RAY_INIT_ROOTS if key.startswith(r + ".")), None)
    if root:
        rest = key[len(root) + 1:]
        if rest in ("num_cpus", "num_gpus") and value is not None:
            return (f"asks ray.init for {rest}, which Ray refuses when it attaches to the running "
                    "cluster; Argus admits the task's CPUs and GPUs from resources")
        if rest.startswith("runtime_env") or (adds and root == layout.ray_init_prefix):
            return ("adds to verl's ray.init arguments; Ray refuses to merge a ray.init runtime_env "
                    "that names what the job's does: set environment variables in the task's env")
    leaf = key.rpartition(".")[2]
    if leaf in POOL_LEAVES and not key.startswith("trainer."):
        return ("would give verl GPUs outside the pool Argus admitted (trainer.nnodes × "
                "trainer.n_gpus_per_node, from resources); Argus does not count extra pools")
    return ""


def _expand(key: str, value: Any) -> list[tuple[str, Any]]:
    """The key itself and, for a dict value, every key under it."""
    found = [(key, value)]
    if isinstance(value, dict):
        for sub, inner in value.items():
            found += _expand(f"{key}.{sub}", inner)
    return found


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def _path_value(value: str, tree_path: str) -> str:
    """Why a relative path value is refused (empty if it is not one)."""
    if value.startswith(("./", "../", "~")):
        return (f"'{value}' is a relative path; each attempt runs in a directory of its own (not "
                "the verl tree, not your home): write the absolute path on the shared filesystem")
    if "/" in value and not value.startswith("/") and "://" not in value \
            and os.path.exists(os.path.join(tree_path, value)):
        return (f"'{value}' is relative to the verl tree; each attempt runs in a directory of its "
                f"own: write '{Path(tree_path) / value}'")
    if value.startswith("/") and ".." in PurePosixPath(value).parts:
        return f"'{value}' contains '..'; write the absolute path without it"
    return ""


def model_issue(model: str, tree_path: str) -> SpecIssue | None:
    """``verl.model`` written as a relative path (a hub id such as Qwen/Qwen2.5-0.5B is fine)."""
    problem = _path_value(model, tree_path)
    return SpecIssue("verl.model", problem) if problem else None


def env_issues(layout: VerlLayout, env: dict[str, str]) -> list[SpecIssue]:
    return [SpecIssue(f"env.{name}", f"verl's ray.init in this tree sets {name} itself and Ray "
                      "refuses a job that sets it too; remove it (or use a verl ≥ 0.6 tree)")
            for name in env if name in layout.ray_init_env]
