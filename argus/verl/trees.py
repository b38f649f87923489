"""verl source trees: which ones this server knows, with which interpreter, and their layout.

A tree is registered by name in ``ARGUS_VERL_TREES`` (``{"v0.9.1": {"path": …, "python": …}}``)
or found by convention: ``<shared>/code/verl-X`` is ``vX`` and ``X``, its interpreter
``<shared>/envs/verl-X/bin/python``. Where a convention tree has no environment there, the
server's own interpreter is used only if it passes the same check, and the tree says so.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from argus.verl.interpreters import Interpreter, check_interpreter
from argus.verl.layout import read_layout
from taskspec.verl import VerlTree


@dataclass(frozen=True)
class TreeEntry:
    """A known tree before any check: where it is, its interpreter and where that came from."""

    name: str
    path: str
    python: str
    source: str  # settings | convention | server (no env of its own: the server's interpreter)


def discover_trees(shared_root: str | Path | None, explicit: dict[str, dict[str, str]]) -> dict[str, TreeEntry]:
    found: dict[str, TreeEntry] = {}
    if shared_root:
        code = Path(shared_root) / "code"
        for tree in sorted(code.glob("verl-*")) if code.is_dir() else []:
            version = tree.name.removeprefix("verl-")
            python = Path(shared_root) / "envs" / tree.name / "bin" / "python"
            own = python.exists()
            for name in (f"v{version}", version):
                found.setdefault(name, TreeEntry(name, str(tree), str(python) if own else sys.executable,
                                                 "convention" if own else "server"))
    for name, item in explicit.items():
        python = item.get("python")
        found[name] = TreeEntry(name, item["path"], python or sys.executable,
                                "settings" if python else "server")
    return found



def inspect_tree(entry: TreeEntry) -> VerlTree:
    """The tree with its layout and a checked interpreter; ValueError says what is wrong."""
    layout = read_layout(entry.path)
    interp = check_interpreter(entry.python, entry.path)
    if not interp.ok:
        via = (" (no environment of its own at <shared>/envs/verl-X/bin/python, so the server's "
               "interpreter was tried)") if entry.source == "server" else ""
        raise ValueError(f"verl tree '{entry.name}': {interp.problem}{via}")
    return VerlTree(name=entry.name, path=str(Path(entry.path).resolve()), python=entry.python, layout=layout)


def describe(entry: TreeEntry) -> dict:
    """One row of ``argus verl trees``: the tree, its interpreter, layout and status."""
    row = {"name": entry.name, "path": entry.path, "python": entry.python,
           "python_source": entry.source, "layout": None, "workloads": [], "cpus_per_gpu": None,
           "status": "ok", "problem": ""}
    try:
        layout = read_layout(entry.path)
        row.update(layout=layout.description, workloads=sorted(layout.workloads),
                   cpus_per_gpu=layout.cpus_per_gpu)
    except (ValueError, OSError) as exc:
        return {**row, "status": "broken", "problem": str(exc)}
    except Exception as exc:  # noqa: BLE001 - hydra's composition errors have several types
        return {**row, "status": "broken", "problem": f"its config does not compose: {exc}"}
    interp: Interpreter = check_interpreter(entry.python, entry.path)
    if not interp.ok:
        return {**row, "status": "broken", "problem": interp.problem}
    if entry.source == "server":
        row["status"] = "ok (server's interpreter: the tree has no environment of its own)"
    return row
