"""Composing a verl tree's own hydra config (pure Python, no GPU; well under a second).

hydra's ``GlobalHydra`` is process-wide, so every composition holds one lock. The config with
no overrides is cached per (tree, config name, config directory mtime): read it, never change it.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

_HYDRA_LOCK = threading.Lock()


def config_dir(tree_path: str | Path) -> Path:
    return Path(tree_path) / "verl" / "trainer" / "config"


def has_config(tree_path: str | Path, config: str) -> bool:
    return (config_dir(tree_path) / f"{config}.yaml").is_file()


def compose_config(tree_path: str, config: str, overrides: list[str]) -> DictConfig:
    """The tree's ``config`` with ``overrides`` applied; hydra's own errors pass through."""
    with _HYDRA_LOCK:
        GlobalHydra.instance().clear()
        try:
            with initialize_config_dir(config_dir=str(config_dir(tree_path)), version_base=None):
                return compose(config_name=config, overrides=overrides)
        finally:
            GlobalHydra.instance().clear()


def config_mtime(tree_path: str | Path) -> float:
    return config_dir(tree_path).stat().st_mtime


def base_config(tree_path: str, config: str) -> DictConfig:
    """The tree's config with no overrides (cached until the config directory changes)."""
    return _base_config(tree_path, config, config_mtime(tree_path))


@lru_cache(maxsize=64)
def _base_config(tree_path: str, config: str, _mtime: float) -> DictConfig:
    return compose_config(tree_path, config, [])
