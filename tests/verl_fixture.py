"""The real verl 0.9.1 source tree (from its wheel, no dependencies), cached under .cache/verl."""

from __future__ import annotations

from pathlib import Path

from argus.verl_fetch import fetch_verl_tree

REPO = Path(__file__).resolve().parents[1]


def verl_source_tree(version: str = "0.9.1") -> Path:
    cache = REPO / ".cache" / "verl"
    return fetch_verl_tree(version, cache / f"verl-{version}", cache)
