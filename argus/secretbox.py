"""Encryption at rest for users' secrets (Fernet: AES-128-CBC + HMAC-SHA256).

The key is ``ARGUS_SECRET_KEY`` (a urlsafe-base64 32-byte Fernet key) when set — every server
sharing one database must then use the same value — else a key file created once, mode 0600,
at ``<state dir>/secret.key``. Losing the key loses the stored secrets, nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from argus.errors import Unavailable


class SecretBox:
    def __init__(self, key: bytes):
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise Unavailable("the secret key is not a Fernet key (32 urlsafe-base64 bytes); "
                              "make one with: python -c 'from cryptography.fernet import Fernet; "
                              "print(Fernet.generate_key().decode())'") from exc

    def seal(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise Unavailable("a stored secret cannot be decrypted with this server's key "
                              "(ARGUS_SECRET_KEY or <state dir>/secret.key differs from the one "
                              "that stored it)") from exc


def load_key(explicit: str, key_file: Path) -> bytes:
    """The explicit key, else the key file's (created 0600 on first use, never overwritten)."""
    if explicit:
        return explicit.encode()
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return key_file.read_bytes().strip()
        with os.fdopen(fd, "wb") as out:
            out.write(Fernet.generate_key())
            out.flush()
            os.fsync(out.fileno())
    return key_file.read_bytes().strip()
