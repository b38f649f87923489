"""Fetch a verl source tree from its wheel (no dependencies): enough for its hydra config.

Production clusters keep full trees with their own Python environments on the shared
filesystem; the demo and the tests only need the config tree that ships in the wheel.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path


def fetch_verl_tree(version: str, dest: Path, cache: Path) -> Path:
    """Unpack ``verl==version`` into ``dest`` (so ``dest/verl/trainer/config`` exists)."""
    marker = dest / "verl" / "trainer" / "config" / "ppo_trainer.yaml"
    if marker.exists():
        return dest
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob(f"verl-{version}-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        f"verl=={version}", "-d", str(cache)], check=True, timeout=600)
        wheels = sorted(cache.glob(f"verl-{version}-*.whl"))
    if not wheels:
        raise RuntimeError(f"pip did not produce a verl {version} wheel in {cache}")
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheels[-1]) as archive:
        archive.extractall(dest)
    if not marker.exists():
        raise RuntimeError(f"the verl {version} wheel has no trainer config at {marker}")
    return dest
