"""Users' secrets: stored encrypted, never shown back, injected into the owner's jobs.

A secret is an environment variable a user's jobs need but nobody should read: a W&B key
(``WANDB_API_KEY``), a hub token. ``argus secret set NAME`` stores it once; every job of that
user gets it in its environment at submission. Values never appear in API answers, dry runs,
the audit trail (only the name) or logs served by Argus (replaced by ``[redacted]``).

Experiment tracking rides on it: every attempt of a task carries the same ``WANDB_RUN_ID`` with
``WANDB_RESUME=allow``, so a preempted run continues the same W&B curve; without a stored
``WANDB_API_KEY`` (and no ``WANDB_MODE`` in the task's env) W&B runs offline.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from argus.authz import Principal, require
from argus.db.audit import RequestAudit
from argus.db.engine import Database
from argus.db.models import User, UserSecret
from argus.db.store import installation_id
from argus.errors import BadRequest, Conflict, NotFound, Unavailable
from argus.secretbox import SecretBox, load_key
from argus.settings import Settings

log = logging.getLogger(__name__)
NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
MAX_VALUE_BYTES = 16 * 1024
MAX_PER_USER = 32
REDACTED = "[redacted]"
MIN_REDACT_LEN = 4  # shorter values would blank out ordinary log text
# Variables Argus sets itself or that would change how the job starts: never from a secret.
RESERVED = {"PATH", "HOME", "PYTHONPATH", "PYTHONHOME", "CUDA_VISIBLE_DEVICES",
            "WANDB_RUN_ID", "WANDB_RESUME", "WANDB_MODE"}
RESERVED_PREFIXES = ("ARGUS_", "RAY_", "LD_")
TRACKING_KEY = "WANDB_API_KEY"


@lru_cache(maxsize=8)
def _box(explicit: str, key_file: Path) -> SecretBox:
    return SecretBox(load_key(explicit, key_file))


def box_for(settings: Settings) -> SecretBox:
    return _box(settings.secret_key, (settings.state_dir / "secret.key").resolve())


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise BadRequest(f"'{name}' is not a secret name; use an environment variable name: "
                         "upper-case letters, digits and '_', not starting with a digit (64 at most)")
    if name in RESERVED or name.startswith(RESERVED_PREFIXES):
        raise BadRequest(f"'{name}' is set by Argus or Ray for every job and cannot be a secret; "
                         f"reserved: {', '.join(sorted(RESERVED))} and names starting with "
                         f"{', '.join(RESERVED_PREFIXES)}")


def _target(session: Session, actor: Principal, user: str, action: str) -> None:
    found = session.get(User, user)
    if found is None:
        raise NotFound(f"user '{user}' does not exist")
    require(actor, action, owner=user, team=found.team, target=f"secret/{user}")


def set_secret(db: Database, settings: Settings, actor: Principal, name: str, value: str, *,
               user: str | None = None, audit: RequestAudit | None = None) -> dict[str, Any]:
    """Store (or replace) ``user``'s secret ``name``; the answer never carries the value."""
    user = user or actor.name
    check_name(name)
    if not value:
        raise BadRequest(f"secret {name}: the value is empty; to remove it: argus secret rm {name}")
    if len(value.encode()) > MAX_VALUE_BYTES:
        raise BadRequest(f"secret {name}: the value is {len(value.encode())} bytes; "
                         f"at most {MAX_VALUE_BYTES} are kept")
    if "\x00" in value:
        raise BadRequest(f"secret {name}: the value has a NUL byte, which an environment "
                         "variable cannot carry")
    sealed = box_for(settings).seal(value)
    now = time.time()
    with db.write() as session:
        _target(session, actor, user, "secret.write")
        row = session.scalar(select(UserSecret).where(UserSecret.user == user, UserSecret.name == name))
        created = row is None
        if created:
            count = session.scalar(select(func.count()).select_from(UserSecret)
                                   .where(UserSecret.user == user)) or 0
            if count >= MAX_PER_USER:
                raise Conflict(f"user '{user}' has {count} secrets, the most kept; remove one first")
            row = UserSecret(user=user, name=name, sealed=sealed, created_at=now, updated_at=now)
            session.add(row)
        else:
            row.sealed, row.updated_at = sealed, now
        session.flush()
        if audit is not None:
            audit.record(session, target=f"secret/{user}/{name}", created=created)
        return {"user": user, "name": name, "created": created, "updated_at": now}


def list_secrets(db: Database, actor: Principal, user: str | None = None) -> list[dict[str, Any]]:
    user = user or actor.name
    with db.read() as session:
        _target(session, actor, user, "secret.read")
        rows = session.scalars(select(UserSecret).where(UserSecret.user == user)
                               .order_by(UserSecret.name))
        return [{"user": user, "name": r.name, "created_at": r.created_at,
                 "updated_at": r.updated_at} for r in rows]


def delete_secret(db: Database, actor: Principal, name: str, *, user: str | None = None,
                  audit: RequestAudit | None = None) -> dict[str, Any]:
    user = user or actor.name
    with db.write() as session:
        _target(session, actor, user, "secret.write")
        row = session.scalar(select(UserSecret).where(UserSecret.user == user, UserSecret.name == name))
        if row is None:
            raise NotFound(f"user '{user}' has no secret '{name}'")
        session.delete(row)
        session.flush()
        if audit is not None:
            audit.record(session, target=f"secret/{user}/{name}")
        return {"user": user, "name": name, "deleted": True}


def values_of(session: Session, settings: Settings, owner: str | None) -> dict[str, str]:
    """The owner's secrets, decrypted: what a job of theirs gets in its environment. A secret this
    server's key cannot open (the key was changed) is left out and logged, never fatal."""
    if not owner:
        return {}
    box = box_for(settings)
    found: dict[str, str] = {}
    for row in session.scalars(select(UserSecret).where(UserSecret.user == owner)):
        try:
            found[row.name] = box.open(row.sealed)
        except Unavailable as exc:
            log.warning("secret %s of %s left out: %s", row.name, owner, exc.message)
    return found


def tracking_env(run_id: str, task_env: dict[str, str], has_key: bool) -> dict[str, str]:
    """W&B settings every attempt of one task shares: the same run, resumed; offline without a key."""
    env = {"WANDB_RUN_ID": run_id, "WANDB_RESUME": "allow"}
    if not has_key and "WANDB_MODE" not in task_env:
        env["WANDB_MODE"] = "offline"
    return env


def job_env(session: Session, settings: Settings, owner: str | None, run_id: str,
            task_env: dict[str, str]) -> dict[str, str]:
    """What submission adds to a job's environment: the owner's secrets and the tracking settings."""
    found = values_of(session, settings, owner)
    return {**tracking_env(run_id, task_env, TRACKING_KEY in found), **found}


def with_job_env(session: Session, settings: Settings, request, owner: str | None,  # noqa: ANN001, ANN201
                 job_prefix: str, task_id: int, task_env: dict[str, str]):
    """The job request with the owner's secrets and the task's tracking settings in its
    environment; what the task's own ``env`` sets wins over the tracking defaults."""
    env = request.runtime_env.get("env_vars", {})
    added = job_env(session, settings, owner, run_id(job_prefix, task_id), task_env)
    return dataclasses.replace(request, runtime_env={**request.runtime_env,
                                                     "env_vars": {**added, **env}})


def preview_env(names: list[str], run_id: str, task_env: dict[str, str]) -> dict[str, str]:
    """The same for a dry run, values replaced: the user sees which secrets their job will get."""
    return {**tracking_env(run_id, task_env, TRACKING_KEY in names), **{n: REDACTED for n in names}}


def run_id(job_prefix: str, task_id: int | str) -> str:
    """One W&B run per task, shared by all its attempts: the submission id without the attempt."""
    return f"{job_prefix}-{task_id}"


def preview_runtime_env(db: Database, runtime_env: dict, owner: str | None,
                        task_env: dict[str, str]) -> dict:
    """A dry run's runtime_env: what submission will add, secret values replaced."""
    with db.read() as session:
        names = list(session.scalars(select(UserSecret.name).where(UserSecret.user == owner))) \
            if owner else []
        prefix = f"argus-{installation_id(session)}"
    added = preview_env(names, run_id(prefix, "<task id>"), task_env)
    return {**runtime_env, "env_vars": {**added, **runtime_env.get("env_vars", {})}}


def redact_text(text: str, values: list[str]) -> str:
    """``text`` with every secret value (long enough to be one) replaced by ``[redacted]``."""
    for value in sorted((v for v in values if len(v) >= MIN_REDACT_LEN), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text
