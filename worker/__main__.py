"""``python -m worker start …`` (same as ``argus worker start``; used where entry points are not installed)."""

from worker.cli import worker_group

if __name__ == "__main__":
    worker_group(prog_name="argus worker")
