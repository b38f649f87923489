"""Tables: tasks, attempts, events; fair-share usage, preemptions, quota loans; teams, users,
API tokens, SSH keys, the audit log.

Times are UTC seconds since the epoch (floats).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(32))
    team: Mapped[str | None] = mapped_column(String(64), nullable=True)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    spec: Mapped[dict] = mapped_column(JSON)
    spec_text: Mapped[str] = mapped_column(Text, default="")
    # Resolved once at admission and kept: every attempt runs the exact same command.
    argv: Mapped[list | None] = mapped_column(JSON, nullable=True)
    checkpoint_dir: Mapped[str] = mapped_column(Text)
    nodes: Mapped[int] = mapped_column(Integer, default=1)
    gpus_per_node: Mapped[float] = mapped_column(Float, default=0.0)
    cpus_per_node: Mapped[float] = mapped_column(Float, default=1.0)
    gpu_model: Mapped[str | None] = mapped_column(String(32), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    preemptions: Mapped[int] = mapped_column(Integer, default=0)
    latest_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Why the newest attempt ended (argus/termination.py), e.g. NCCL_TIMEOUT, USER_ERROR (0007).
    termination: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # argus gc never removes a pinned task's checkpoints and logs (argus pin / unpin; 0011).
    pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # Unique per owner: another user's same key is another request, never this task.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    resubmit_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Code snapshots the spec runs ({"code": "<sha256>"}), found by the server in the spec's paths.
    snapshots: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    queued_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (Index("ix_tasks_status_priority", "status", "priority", "queued_at"),
                      UniqueConstraint("owner", "idempotency_key", name="uq_tasks_owner_idempotency_key"))


class Installation(Base):
    """One row: this database's random id, part of every Ray submission id (migration 0004)."""

    __tablename__ = "installation"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float)
    # when the run-time policy tables were seeded from the settings (migration 0007)
    policy_seeded_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Attempt(Base):
    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    submission_id: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    placement: Mapped[list] = mapped_column(JSON, default=list)
    ray_address: Mapped[str] = mapped_column(Text, default="")
    cluster_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Why it ended; set before the end when Argus itself stops it (TIMED_OUT, PLACEMENT_TIMEOUT).
    termination: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Since when its placement groups have been PENDING in Ray (None: none pending).
    placement_pending_since: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    submitted_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    stop_requested_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    attempt: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ts: Mapped[float] = mapped_column(Float)
    from_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(64), default="system")


class FairShareUsage(Base):
    """A team's fair-share usage (GPUs admitted, decayed with the half-life) as of ``updated_at``."""

    __tablename__ = "fair_share_usage"

    team: Mapped[str] = mapped_column(String(64), primary_key=True)
    usage: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[float] = mapped_column(Float)


class Preemption(Base):
    """Every preemption decision, with the task it made room for."""

    __tablename__ = "preemptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[float] = mapped_column(Float)
    victim_task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    victim_attempt: Mapped[int | None] = mapped_column(Integer, nullable=True)
    preemptor_task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")


class QuotaLoan(Base):
    """A rebalancing change: ``amount`` of ``flavor`` quota lent by one team to another."""

    __tablename__ = "quota_loans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[float] = mapped_column(Float)
    lender: Mapped[str] = mapped_column(String(64))
    borrower: Mapped[str] = mapped_column(String(64))
    flavor: Mapped[str] = mapped_column(String(32))
    amount: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")
    reverted_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class SchedulerLease(Base):
    """The one row that says which process runs the scheduler (migration 0010).

    Taken by compare-and-set when ``expires_at`` has passed; every take adds one to ``token``
    (the fencing token). Every write of the scheduler's transactions first checks the token it
    holds against this row, so a holder that lost the lease can no longer write."""

    __tablename__ = "scheduler_lease"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder: Mapped[str] = mapped_column(String(200), default="")
    token: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[float] = mapped_column(Float, default=0.0)
    acquired_at: Mapped[float] = mapped_column(Float, default=0.0)
    renewed_at: Mapped[float] = mapped_column(Float, default=0.0)


class Counter(Base):
    """Named counters that caches in other processes watch (migration 0013). ``identity``: one
    more on every change of users, grants or tokens (argus/db/epochs.py), so a server's cached
    principals are dropped once any server revokes a token or a grant."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class TeamPolicy(Base):
    """A team's fair-share weight and quota per flavor, as the scheduler uses it (migration 0007).

    Seeded from ARGUS_TEAMS on first start, then changed through the API (``argus team quota``).
    ``quota``: {flavor: {"nominal": n, "borrowing_limit": n|null, "lending_limit": n|null}}."""

    __tablename__ = "team_policies"

    team: Mapped[str] = mapped_column(String(64), primary_key=True)
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    quota: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[float] = mapped_column(Float)
    updated_by: Mapped[str] = mapped_column(String(64), default="")


class PriorityClassRow(Base):
    """A priority class (rank 0 is the highest), seeded from ARGUS_PRIORITIES/ARGUS_PRIORITY_CLASSES
    on first start, then changed through the API (``argus priority-class``; migration 0007)."""

    __tablename__ = "priority_classes"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, unique=True)
    grace_seconds: Mapped[int] = mapped_column(Integer)
    may_preempt: Mapped[bool] = mapped_column(Boolean)
    preemptible: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[float] = mapped_column(Float)
    updated_by: Mapped[str] = mapped_column(String(64), default="")


class Team(Base):
    __tablename__ = "teams"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float)
    # Bytes the team's directory and its members' workspaces may hold; None: not limited.
    storage_quota_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class User(Base):
    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    team: Mapped[str | None] = mapped_column(ForeignKey("teams.name"), nullable=True)
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(64), default="")


class Grant(Base):
    """An extra permission given to one user beyond their role (argus/authz.py: GRANTABLE)."""

    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(ForeignKey("users.name"))
    action: Mapped[str] = mapped_column(String(64))
    granted_by: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (UniqueConstraint("user", "action", name="uq_grants_user_action"),)


class SshKey(Base):
    """A user's SSH public key: the SFTP server lets its holder in as that user."""

    __tablename__ = "ssh_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(ForeignKey("users.name"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    key_type: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[str] = mapped_column(Text)  # base64 blob, no comment
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)  # SHA256:..., as ssh-keygen -l
    created_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (UniqueConstraint("user", "name", name="uq_ssh_keys_user_name"),)


class ApiToken(Base):
    """A bearer token; only the sha256 of the secret is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(ForeignKey("users.name"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_used_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    __table_args__ = (UniqueConstraint("user", "name", name="uq_api_tokens_user_name"),)


class UiSessionRow(Base):
    """A web UI sign-in (api/ui/sessions.py; migration 0014). Keyed by the sha256 of the session
    id (the browser's cookie holds the id itself) and holding the sha256 of the Argus token it
    was opened with, never the token: every server sharing the database sees every session, and
    this table holds nothing that signs anyone in."""

    __tablename__ = "ui_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    user: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class UserSecret(Base):
    """A user's secret (e.g. WANDB_API_KEY), encrypted at rest (argus/secretbox.py); injected into
    the user's jobs as an environment variable of the same name, never shown back."""

    __tablename__ = "user_secrets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(ForeignKey("users.name"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (UniqueConstraint("user", "name", name="uq_user_secrets_user_name"),)


class AuditEntry(Base):
    """Append-only, hash-chained: ``entry_hash = sha256(prev_hash + canonical(entry))``.

    The migration adds triggers that refuse UPDATE and DELETE on this table.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[float] = mapped_column(Float, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    token_name: Mapped[str] = mapped_column(String(64), default="")
    source_ip: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(Text, default="")
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    outcome: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(64), default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))
