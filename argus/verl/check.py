"""Composing a task's overrides with its tree's config: a mistyped key is named with a fix, and
the values Argus set are read back from the composed config (for ``--dry-run``)."""

from __future__ import annotations

import difflib
import re

from omegaconf import DictConfig, OmegaConf

from argus.verl.compose import base_config, compose_config
from taskspec import SpecIssue
from taskspec.verl import VerlTree

_BAD_KEY = re.compile(r"Could not (?:override|append to|delete from) '([^']+)'|Key '([^']+)' is not in struct")


def compose_task(tree: VerlTree, workload: str, user: list[str],
                 ours: list[str]) -> tuple[list[SpecIssue], dict[str, object]]:
    """(issues, {key Argus set: its value in the composed config})."""
    config = tree.layout.workloads[workload].config
    try:
        cfg = compose_config(tree.path, config, [*ours, *user])
    except Exception as exc:  # noqa: BLE001 - hydra raises several types; we report its text
        return _explain(tree, config, user, str(exc)), {}
    keys = [o.lstrip("+~").split("=", 1)[0] for o in ours]
    values = {}
    for key in keys:
        value = OmegaConf.select(cfg, key, default=None)
        values[key] = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
    return [], values


def _explain(tree: VerlTree, config: str, user: list[str], text: str) -> list[SpecIssue]:
    match = _BAD_KEY.search(text)
    key = next((g for g in match.groups() if g), "") if match else ""
    index = next((i for i, o in enumerate(user) if o.lstrip("+~").split("=", 1)[0] == key), None)
    path = f"verl.overrides.{index}" if index is not None else "verl.overrides"
    if not key:
        return [SpecIssue(path, f"verl's {config} config rejects the overrides: {text.splitlines()[0]}")]
    return [SpecIssue(path, f"'{key}' is not a key of verl's {config} config"
                      f"{_close_key(tree, config, key)} (to add a new key on purpose, write +{key}=…)")]


def _close_key(tree: VerlTree, config: str, key: str) -> str:
    parent, _, leaf = key.rpartition(".")
    try:
        cfg = base_config(tree.path, config)
        node = OmegaConf.select(cfg, parent) if parent else cfg
    except Exception:  # noqa: BLE001
        return ""
    if not isinstance(node, DictConfig):
        return ""
    close = difflib.get_close_matches(leaf, [str(k) for k in node.keys()], n=1)
    return f"; did you mean '{parent + '.' if parent else ''}{close[0]}'?" if close else ""
