"""The real verl 0.9.1 source tree (from its wheel, no dependencies), cached under .cache/verl.

``verl_source_tree()`` downloads once (``pip download --no-deps verl==0.9.1``) and unpacks it so
that ``.cache/verl/verl-0.9.1/verl/trainer/config/`` exists; later runs reuse it. Tests use the
session fixture ``verl_tree_path``, which skips with the reason when the download fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from argus.verl_fetch import fetch_verl_tree

REPO = Path(__file__).resolve().parents[1]
VERL_VERSION = "0.9.1"


def verl_source_tree(version: str = VERL_VERSION) -> Path:
    cache = REPO / ".cache" / "verl"
    return fetch_verl_tree(version, cache / f"verl-{version}", cache)


@pytest.fixture(scope="session")
def verl_tree_path() -> Path:
    try:
        return verl_source_tree()
    except Exception as exc:  # noqa: BLE001 - no network, no pip, a broken wheel: all skip
        pytest.skip(f"could not fetch the verl {VERL_VERSION} wheel with pip download: {exc}")
