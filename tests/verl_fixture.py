"""Real verl source trees (from their wheels, no dependencies), cached under .cache/verl.

``verl_source_tree(version)`` downloads once (``pip download --no-deps verl==X``) and unpacks it
so that ``.cache/verl/verl-X/verl/trainer/config/`` exists; later runs reuse it. Tests use the
session fixtures ``verl_tree_path`` (0.9.1) and ``verl_layout_trees`` (every layout the suite
covers), which skip with the reason when a download fails (no network, no pip).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from argus.verl.fetch import fetch_verl_tree

REPO = Path(__file__).resolve().parents[1]
VERL_VERSION = "0.9.1"
LAYOUT_VERSIONS = ("0.4.1", "0.6.1", "0.7.1", "0.9.1")


def verl_source_tree(version: str = VERL_VERSION) -> Path:
    cache = REPO / ".cache" / "verl"
    return fetch_verl_tree(version, cache / f"verl-{version}", cache)


def tree_or_skip(version: str) -> Path:
    try:
        return verl_source_tree(version)
    except Exception as exc:  # noqa: BLE001 - no network, no pip, a broken wheel: all skip
        pytest.skip(f"could not fetch the verl {version} wheel with pip download: {exc}")


@pytest.fixture(scope="session")
def verl_tree_path() -> Path:
    return tree_or_skip(VERL_VERSION)


@pytest.fixture(scope="session", params=LAYOUT_VERSIONS)
def verl_layout_tree(request) -> tuple[str, Path]:  # noqa: ANN001
    """(version, tree) for each layout the suite covers."""
    return request.param, tree_or_skip(request.param)
