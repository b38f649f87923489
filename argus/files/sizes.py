"""Byte counts for people: 1.5 GiB out, '500G' in. No imports beyond the errors (the CLI uses it)."""

from __future__ import annotations

from argus.errors import BadRequest


def fmt_bytes(n: int | float | None) -> str:
    if n is None:
        return "unlimited"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6,
         "mib": 2**20, "g": 2**30, "gb": 10**9, "gib": 2**30, "t": 2**40, "tb": 10**12, "tib": 2**40}


def parse_bytes(text: str) -> int:
    """'500G', '1.5TiB', '10MB', '4096' -> bytes (G, GiB: powers of 1024; GB: of 1000)."""
    raw = text.strip().lower().replace(" ", "")
    number = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(number):]
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in UNITS or value < 0:
        raise BadRequest(f"'{text}' is not a size; write a number and a unit: 500G, 1.5TiB, 10MB")
    return int(value * UNITS[unit])
