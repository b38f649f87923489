"""The CLI's token: ``ARGUS_TOKEN``, else the config file (``ARGUS_CONFIG`` or
``~/.config/argus/config.toml``). The file holds a secret, so it is written 0600 and refused
when group or others can read it (as ssh does with private keys).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from argus.errors import ArgusError


class ConfigError(ArgusError):
    code = "config"


def config_path() -> Path:
    explicit = os.environ.get("ARGUS_CONFIG")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "argus" / "config.toml"


def _parse(text: str) -> dict[str, str]:
    """``key = "value"`` lines (the subset of TOML this file uses)."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        try:
            values[key.strip()] = json.loads(value.strip()) if sep else ""
        except json.JSONDecodeError as exc:
            raise ConfigError(f"line {number}: write key = \"value\"") from exc
    return values


def read_config(path: Path | None = None) -> dict[str, str]:
    path = path or config_path()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return {}
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} holds a token but group/others can access it "
                          f"(mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}")
    try:
        return _parse(path.read_text())
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.message}") from exc


def write_config(values: dict[str, str], path: Path | None = None) -> Path:
    """Merge ``values`` into the config file, created 0600 (its directory 0700)."""
    path = path or config_path()
    merged = {**read_config(path), **values}
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(path, "".join(f"{k} = {json.dumps(v)}\n" for k, v in sorted(merged.items())))
    return path


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, readable by its owner only (mode 0600, even if it existed)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def resolve_token() -> str | None:
    return os.environ.get("ARGUS_TOKEN") or read_config().get("token") or None
