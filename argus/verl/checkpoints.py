"""The checkpoint layout verl keeps, read the way verl reads it.

verl writes ``<dir>/global_step_N/`` and then ``<dir>/latest_checkpointed_iteration.txt``
holding N; on resume it reads the marker and uses ``global_step_N`` only if it exists. A
``global_step_N`` without the marker is ignored (verl starts from scratch), so Argus reports no
step for it either. Custom tasks get the same contract (``ARGUS_CHECKPOINT_DIR``).
"""

from __future__ import annotations

from pathlib import Path

MARKER = "latest_checkpointed_iteration.txt"
STEP_DIR = "global_step_{}"
KEEP_ENV = "ARGUS_CHECKPOINT_KEEP"


def latest_step(checkpoint_dir: str | Path) -> int | None:
    """The step verl would resume from, or None (no marker, a bad marker, or its step missing)."""
    root = Path(checkpoint_dir)
    try:
        step = int((root / MARKER).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        return step if (root / STEP_DIR.format(step)).is_dir() else None
    except OSError:
        return None
