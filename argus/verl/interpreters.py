"""A verl tree's interpreter, checked before Argus runs anything with it.

The check (one short subprocess): the file exists and runs, it finds the tree's own ``verl``
package through ``PYTHONPATH`` (not another copy installed beside it), and its Ray version equals
the server's (the cluster's: Ray refuses drivers of another version). A passing check is kept for
the life of the process; a failing one is re-checked after ``RETRY_S``, so a repaired environment
is picked up without a restart.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

RETRY_S = 30.0
TIMEOUT_S = 60.0
_PROBE = (
    "import importlib.util, importlib.metadata, json\n"
    "spec = importlib.util.find_spec('verl')\n"
    "where = list(spec.submodule_search_locations or []) if spec else []\n"
    "try:\n    ray = importlib.metadata.version('ray')\n"
    "except importlib.metadata.PackageNotFoundError:\n    ray = None\n"
    "print(json.dumps({'verl': where, 'ray': ray}))\n"
)


@dataclass(frozen=True)
class Interpreter:
    python: str
    ok: bool
    problem: str = ""          # what is wrong and how to fix it; empty when ok
    ray_version: str | None = None


_cache: dict[tuple[str, str, str], tuple[Interpreter, float]] = {}
_lock = threading.Lock()


def server_ray_version() -> str | None:
    try:
        return metadata.version("ray")
    except metadata.PackageNotFoundError:
        return None


def check_interpreter(python: str, tree_path: str, ray_version: str | None = None) -> Interpreter:
    """The (cached) check of ``python`` for the tree at ``tree_path``."""
    want = ray_version if ray_version is not None else server_ray_version() or ""
    key = (python, str(Path(tree_path).resolve()), want)
    with _lock:
        hit = _cache.get(key)
        if hit and (hit[0].ok or time.monotonic() - hit[1] < RETRY_S):
            return hit[0]
    result = _probe(python, key[1], want)
    with _lock:
        _cache[key] = (result, time.monotonic())
    return result


def _probe(python: str, tree: str, want: str) -> Interpreter:
    if not os.path.isabs(python) or not os.access(python, os.X_OK):
        return Interpreter(python, False, f"interpreter '{python}' is not an executable file given "
                           "by absolute path; create the tree's environment there or set its "
                           "\"python\" in ARGUS_VERL_TREES")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": tree,
           "HOME": os.environ.get("HOME", "/tmp")}
    try:
        done = subprocess.run([python, "-c", _PROBE], env=env, cwd="/", capture_output=True,
                              text=True, timeout=TIMEOUT_S, check=False)
        found = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        return Interpreter(python, False, f"interpreter '{python}' did not run: {exc}")
    if found is None:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Interpreter(python, False, f"interpreter '{python}' failed: {tail}")
    return _judge(python, tree, want, found)


def _judge(python: str, tree: str, want: str, found: dict) -> Interpreter:
    ray = found.get("ray")
    homes = [os.path.realpath(p) for p in found.get("verl") or []]
    mine = os.path.realpath(os.path.join(tree, "verl"))
    if mine not in homes:
        where = f"finds verl at {homes[0]}" if homes else "finds no verl package"
        return Interpreter(python, False, f"interpreter '{python}' {where}, not the tree's {mine}; "
                           "uninstall the other verl from that environment", ray)
    if ray is None:
        return Interpreter(python, False, f"interpreter '{python}' has no Ray; install "
                           f"ray=={want} in that environment", ray)
    if want and ray != want:
        return Interpreter(python, False, f"interpreter '{python}' has Ray {ray}, the cluster runs "
                           f"Ray {want}; install ray=={want} in that environment", ray)
    return Interpreter(python, True, "", ray)


def forget() -> None:
    """Drop every cached check (tests, or after an operator repaired an environment)."""
    with _lock:
        _cache.clear()
