"""SSH public keys: a user registers theirs, the SFTP server lets its holder in as that user.

Only the public key is stored, with its SHA256 fingerprint (as ``ssh-keygen -l`` prints it);
one key belongs to one user.
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import paramiko
from sqlalchemy import select

from argus.authz import Principal, Scope, require, require_action
from argus.db.audit import RequestAudit
from argus.db.engine import Database
from argus.db.models import SshKey, User
from argus.errors import BadRequest, Conflict, NotFound
from argus.services.identity import NAME_RE

KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
             "ssh-rsa")
MAX_KEY_TEXT = 16_384
MIN_RSA_BITS = 2048


def fingerprint(blob: bytes) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def parse_public_key(text: str) -> tuple[str, bytes, str]:
    """(key type, key blob, comment) of one OpenSSH public key line, or a BadRequest."""
    line = text.strip()
    if len(line) > MAX_KEY_TEXT:
        raise BadRequest("public_key: longer than any SSH public key; give the .pub file")
    if "PRIVATE KEY" in line:
        raise BadRequest("public_key: this is a PRIVATE key; never send it anywhere. "
                         "Give the public one (the .pub file beside it)")
    fields = line.split()
    if len(fields) < 2 or fields[0] not in KEY_TYPES:
        raise BadRequest(f"public_key: not an OpenSSH public key line; expected '<type> <base64> "
                         f"[comment]' with type one of {', '.join(KEY_TYPES)} (the .pub file)")
    try:
        blob = base64.b64decode(fields[1], validate=True)
        key = paramiko.PKey.from_type_string(fields[0], blob)
    except (ValueError, paramiko.SSHException) as exc:
        raise BadRequest(f"public_key: the key data does not decode ({exc}); give the .pub "
                         "file as ssh-keygen wrote it") from exc
    if fields[0] == "ssh-rsa" and key.get_bits() < MIN_RSA_BITS:
        raise BadRequest(f"public_key: RSA keys need {MIN_RSA_BITS} bits or more; this one has "
                         f"{key.get_bits()}; make an ed25519 key: ssh-keygen -t ed25519")
    return fields[0], blob, " ".join(fields[2:])


def key_view(row: SshKey) -> dict[str, Any]:
    return {"user": row.user, "name": row.name, "type": row.key_type,
            "fingerprint": row.fingerprint, "created_at": row.created_at}


def add_key(db: Database, who: Principal, public_key: str, *, name: str | None = None,
            user: str | None = None, audit: RequestAudit | None = None) -> dict[str, Any]:
    owner = user or who.name
    require(who, "key.manage", owner=owner, target=f"user/{owner}")
    key_type, blob, comment = parse_public_key(public_key)
    name = name or (comment.split("@")[0] if comment else "") or f"key-{int(time.time())}"
    name = name.lower()[:64]
    if not NAME_RE.match(name):
        raise BadRequest(f"name: '{name}' is not a key name; use lower-case letters, digits, "
                         "'.', '_' and '-' (give --name)")
    fp = fingerprint(blob)
    with db.write() as session:
        if session.get(User, owner) is None:
            raise NotFound(f"user '{owner}' does not exist")
        taken = session.scalar(select(SshKey).where(SshKey.fingerprint == fp))
        if taken is not None:
            whose = "you" if taken.user == owner else "another user"
            raise Conflict(f"this key ({fp}) is already registered by {whose}; one key signs "
                           "in one user: make another key (ssh-keygen -t ed25519)")
        if session.scalar(select(SshKey.id).where(SshKey.user == owner, SshKey.name == name)):
            raise Conflict(f"you already have a key named '{name}'; pick another --name")
        row = SshKey(user=owner, name=name, key_type=key_type,
                     public_key=base64.b64encode(blob).decode(), fingerprint=fp,
                     created_at=time.time())
        session.add(row)
        session.flush()
        if audit is not None:
            audit.record(session, target=f"key/{owner}/{name}", fingerprint=fp)
        return key_view(row)


def list_keys(db: Database, who: Principal, user: str | None = None) -> list[dict[str, Any]]:
    scope = require_action(who, "key.manage")
    with db.read() as session:
        query = select(SshKey).order_by(SshKey.user, SshKey.name)
        if scope is not Scope.ALL:
            query = query.where(SshKey.user == who.name)
        if user:
            query = query.where(SshKey.user == user)
        return [key_view(k) for k in session.scalars(query)]


def remove_key(db: Database, who: Principal, name: str, *, user: str | None = None,
               audit: RequestAudit | None = None) -> dict[str, Any]:
    owner = user or who.name
    require(who, "key.manage", owner=owner, target=f"user/{owner}")
    with db.write() as session:
        row = session.scalar(select(SshKey).where(
            SshKey.user == owner, (SshKey.name == name) | (SshKey.fingerprint == name)))
        if row is None:
            raise NotFound(f"user '{owner}' has no SSH key named '{name}' (argus key list)")
        view = key_view(row)
        session.delete(row)
        if audit is not None:
            audit.record(session, target=f"key/{owner}/{row.name}", fingerprint=row.fingerprint)
        return view


def user_for_key(db: Database, username: str, blob: bytes) -> User | None:
    """The enabled user ``username`` if ``blob`` is one of their registered keys."""
    fp = fingerprint(blob)
    with db.read() as session:
        row = session.scalar(select(SshKey).where(SshKey.fingerprint == fp,
                                                  SshKey.user == username))
        if row is None:
            return None
        user = session.get(User, username)
        return user if user is not None and not user.disabled else None
