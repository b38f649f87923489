"""``python -m head start …`` (same as ``argus head start``; used where entry points are not installed)."""

from head.cli import head_group

if __name__ == "__main__":
    head_group(prog_name="argus head")
