"""verl source trees: find them, read their own hydra config, and check overrides against it.

The reward key is decided from the tree's composed config, not from a version string: verl
≥0.7.1 has ``reward.custom_reward_function`` (and 0.9+ silently ignores the old top-level key).
"""

from __future__ import annotations

import difflib
import re
import sys
import threading
from functools import lru_cache
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, OmegaConf

from taskspec import SpecIssue, VerlTree
from taskspec.compile import VERL_CONFIGS

_HYDRA_LOCK = threading.Lock()  # hydra's GlobalHydra is process-wide
_BAD_KEY = re.compile(r"Could not (?:override|append to|delete from) '([^']+)'|Key '([^']+)' is not in struct")


def config_dir(path: str | Path) -> Path:
    return Path(path) / "verl" / "trainer" / "config"


def _compose(tree_path: str, config: str, overrides: list[str]) -> DictConfig:
    with _HYDRA_LOCK:
        GlobalHydra.instance().clear()
        try:
            with initialize_config_dir(config_dir=str(config_dir(tree_path)), version_base=None):
                return compose(config_name=config, overrides=overrides)
        finally:
            GlobalHydra.instance().clear()


def _config_mtime(tree_path: str) -> float:
    return config_dir(tree_path).stat().st_mtime


@lru_cache(maxsize=32)
def _base_config(tree_path: str, config: str, _mtime: float) -> DictConfig:
    """The tree's config with no overrides, cached per (tree, config, mtime); read it only."""
    return _compose(tree_path, config, [])


@lru_cache(maxsize=32)
def _reward_key(tree_path: str, _mtime: float) -> str:
    cfg = _base_config(tree_path, VERL_CONFIGS["ppo"], _mtime)
    reward = cfg.get("reward")
    if isinstance(reward, DictConfig) and "custom_reward_function" in reward:
        return "reward.custom_reward_function"
    return "custom_reward_function"


def inspect_tree(name: str, path: str | Path, python: str) -> VerlTree:
    """Check that ``path`` is a verl source tree and read its reward key from its config."""
    cdir = config_dir(path)
    if not (cdir / "ppo_trainer.yaml").is_file():
        raise ValueError(f"'{path}' is not a verl source tree (no verl/trainer/config/ppo_trainer.yaml)")
    key = _reward_key(str(Path(path).resolve()), cdir.stat().st_mtime)
    return VerlTree(name=name, path=str(Path(path).resolve()), python=python, reward_key=key)


def discover_trees(shared_root: str | Path | None, explicit: dict[str, dict[str, str]]) -> dict[str, tuple[str, str]]:
    """Named trees: the settings' explicit ones, plus ``<shared>/code/verl-X`` as ``vX`` and ``X``
    with the interpreter ``<shared>/envs/verl-X/bin/python`` when it exists."""
    found: dict[str, tuple[str, str]] = {}
    if shared_root:
        code = Path(shared_root) / "code"
        for tree in sorted(code.glob("verl-*")) if code.is_dir() else []:
            version = tree.name.removeprefix("verl-")
            python = Path(shared_root) / "envs" / tree.name / "bin" / "python"
            entry = (str(tree), str(python) if python.exists() else sys.executable)
            found.setdefault(f"v{version}", entry)
            found.setdefault(version, entry)
    for name, item in explicit.items():
        found[name] = (item["path"], item.get("python") or sys.executable)
    return found


def check_overrides(tree: VerlTree, workload: str, user_overrides: list[str],
                    argus_overrides: list[str] | None = None) -> list[SpecIssue]:
    """Compose the workload's config with every override; name the user's bad key with a fix."""
    everything = [*(argus_overrides or []), *user_overrides]
    try:
        _compose(tree.path, VERL_CONFIGS[workload], everything)
        return []
    except Exception as exc:  # noqa: BLE001 - hydra raises several types; we report its text
        text = str(exc)
    match = _BAD_KEY.search(text)
    key = next((g for g in match.groups() if g), "") if match else ""
    index = next((i for i, o in enumerate(user_overrides) if o.lstrip("+~").split("=", 1)[0] == key), None)
    path = f"verl.overrides.{index}" if index is not None else "verl.overrides"
    if not key:
        return [SpecIssue(path, f"verl {workload} config rejects the overrides: {text.splitlines()[0]}")]
    hint = _close_key(tree, workload, key)
    return [SpecIssue(path, f"'{key}' is not a key of verl's {VERL_CONFIGS[workload]} config"
                      f"{hint} (to add a new key on purpose, write +{key}=…)")]


def _close_key(tree: VerlTree, workload: str, key: str) -> str:
    parent, _, leaf = key.rpartition(".")
    try:
        cfg = _base_config(tree.path, VERL_CONFIGS[workload], _config_mtime(tree.path))
        node = OmegaConf.select(cfg, parent) if parent else cfg
    except Exception:  # noqa: BLE001
        return ""
    if not isinstance(node, DictConfig):
        return ""
    close = difflib.get_close_matches(leaf, [str(k) for k in node.keys()], n=1)
    return f"; did you mean '{parent + '.' if parent else ''}{close[0]}'?" if close else ""
