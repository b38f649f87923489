"""Settings from ``ARGUS_*`` environment variables (see docs/settings.md).

Nothing is read at import time: entry points call :func:`load_settings` and pass the
result down.
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class PriorityClassConfig(BaseModel):
    """One entry of ARGUS_PRIORITY_CLASSES; an unset field keeps the class's default."""

    model_config = ConfigDict(extra="forbid")

    grace_seconds: int | None = Field(default=None, ge=1, le=86400)
    may_preempt: bool | None = None
    preemptible: bool | None = None


class FlavorQuotaConfig(BaseModel):
    """A team's quota of one GPU flavor (a model such as H100, or ``*`` for any)."""

    model_config = ConfigDict(extra="forbid")

    nominal: float = Field(ge=0, le=1e6)
    borrowing_limit: float | None = Field(default=None, ge=0, le=1e6)
    lending_limit: float | None = Field(default=None, ge=0, le=1e6)


class TeamConfig(BaseModel):
    """One entry of ARGUS_TEAMS: the team's fair-share weight and quota per flavor."""

    model_config = ConfigDict(extra="forbid")

    weight: float = Field(default=1.0, gt=0, le=1e6)
    quota: dict[str, FlavorQuotaConfig] = Field(default_factory=dict)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARGUS_", extra="ignore")

    state_dir: Path = Field(
        default=Path(".state"),
        description="Local directory for the SQLite file, saved logs and pid files.",
    )
    db_url: str = Field(
        default="",
        description="Database URL: postgresql://user@host:port/db (psycopg 3) or SQLAlchemy's; "
        "default sqlite:///<state_dir>/argus.db (local disk only). Several servers may share one.",
    )
    ray_address: str = Field(
        default="http://127.0.0.1:8265",
        description="Ray dashboard URL used for the Jobs API when no head record is found.",
    )
    shared_root: Path | None = Field(
        default=None,
        description="Shared filesystem root (GPFS): checkpoints, code trees, head record.",
    )
    verl_trees: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='Named verl code paths as JSON: {"v0.9.1": {"path": ..., "python": ...}}.',
    )
    shared_paths: list[Path] = Field(
        default_factory=list,
        description="Extra directories every task may read (JSON list), besides the owner's "
        "<shared root>/users/<name>, the team's <shared root>/teams/<team>, <shared root>/code "
        "and the verl trees.",
    )
    verl_default_python: str = Field(
        default="python3",
        description="Interpreter for a verl tree given by path with no configured interpreter.",
    )
    priorities: list[str] = Field(
        default_factory=lambda: ["realtime", "online", "batch"],
        description="Priority classes, highest first (JSON list).",
    )
    priority_classes: dict[str, PriorityClassConfig] = Field(
        default_factory=dict,
        description='Per class, JSON: {"batch": {"grace_seconds": 60, "may_preempt": true, '
                    '"preemptible": true}}; unset keys keep the defaults (docs/scheduling.md). '
                    "Seeds the database on first start; then `argus priority-class set` changes it.",
    )
    teams: dict[str, TeamConfig] = Field(
        default_factory=dict,
        description='Teams, JSON: {"nlp": {"weight": 1, "quota": {"H100": {"nominal": 16, '
                    '"borrowing_limit": 8, "lending_limit": 8}}}}; a team not listed is not limited. '
                    "Seeds the database on first start; then `argus team quota set` changes it.",
    )
    fair_share_half_life_seconds: float = Field(default=3600.0, ge=0, description="Usage half-life.")
    age_weight: float = Field(default=0.5, ge=0, description="Weight of the age factor (fair share: 1).")
    age_cap_seconds: float = Field(default=3600.0, ge=0, description="The age factor stops growing here.")
    max_wait_seconds: float = Field(
        default=6 * 3600.0, ge=0, description="Past this wait a task goes first and holds nodes (0: off)."
    )
    min_runtime_seconds: float = Field(default=60.0, ge=0, description="Not preempted before this runtime.")
    preempt_cooldown_seconds: float = Field(
        default=300.0, ge=0, description="Not preempted again within this time of its last preemption."
    )
    preemption: bool = Field(default=True, description="Whether the planner may preempt at all.")
    rebalance_threshold: float = Field(
        default=0.2, ge=0, le=1, description="Lend quota when two teams' utilisation differs by more."
    )
    rebalance_period_seconds: float = Field(default=600.0, ge=0, description="0: never rebalance.")
    host: str = Field(default="127.0.0.1", description="API bind address.")
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024,
        description="Largest request body the API reads (413 beyond it, checked from "
                    "Content-Length before reading and while the body streams).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (JSON list: [\"10.0.0.5\", \"10.1.0.0/16\"]) whose "
                    "X-Forwarded-For the API believes; none by default (the peer's address is "
                    "the source).",
    )
    auth_recheck_seconds: float = Field(
        default=0.5, ge=0, le=60,
        description="Authenticated tokens are kept in memory while the identity epoch stands; "
                    "a server reads the epoch at most this often, so a token or grant revoked "
                    "through another server stops working here within this time (at once "
                    "through this one). 0: read the database on every request.",
    )
    audit_noise_per_minute: int = Field(
        default=30, ge=1,
        description="Unauthenticated refusals audited per source address and minute; the rest "
                    "are counted in one audit.suppressed entry per source and minute.",
    )
    port: int = Field(default=8080, description="API port.")
    api_workers: int = Field(
        default=1, ge=1, le=64,
        description="API worker processes of `argus server` on one port (SO_REUSEPORT; the "
        "kernel spreads connections among them). The first embeds the scheduler loop; SQLite "
        "writes of all of them queue on one lock file. More than 1 uses more cores for the API "
        "(`--api-workers` overrides).",
    )
    api_pin_cpus: bool = Field(
        default=False,
        description="With several API workers: pin worker i to the i-th CPU this server may use "
        "(round robin). Its threads then hand the GIL over on one core instead of across cores: "
        "about a third less CPU per request (docs/performance.md). Off by default: a pinned worker "
        "cannot move away from a core that something else keeps busy.",
    )
    embed_scheduler: bool = Field(
        default=True, description="Run the scheduler loop inside the API process."
    )
    sqlite_write_queue: bool = Field(
        default=True, description="SQLite: this process's writers queue on a lock before taking "
        "the database's write lock, instead of polling it in SQLite's busy handler (a p99 of "
        "seconds under concurrent submits). Off only to measure the difference (bench/submit.py)."
    )
    group_commit: bool = Field(
        default=True, description="Submits that arrive while another is being written share its "
        "next transaction (one commit and one fsync for many; each answered once its own write "
        "committed). Off only to measure the difference (bench/submit.py)."
    )
    tick_seconds: float = Field(default=1.0, gt=0, description="Scheduler loop period.")
    scheduler_lease_seconds: float = Field(
        default=15.0, ge=1, le=3600,
        description="Lifetime of the scheduler lease: when its holder dies, another server or "
        "`argus scheduler` takes over within this time (renewed every third of it).",
    )
    stop_wait_seconds: int = Field(
        default=30, ge=1,
        description="RAY_JOB_STOP_WAIT_TIME_S for a class that is not built in and has no "
        "grace_seconds of its own (built in: realtime 30, online 30, batch 60).",
    )
    placement_timeout_s: float = Field(
        default=600.0, ge=0,
        description="A running job whose placement groups stay PENDING this long is stopped and "
                    "requeued (counts as an attempt); 0: never.",
    )
    ray_timeout_s: float = Field(default=10.0, gt=0, description="Timeout of every call to Ray's dashboard.")
    transient_backoff_max_s: float = Field(
        default=60.0, gt=0,
        description="Longest wait between retries of a transient error at claim or submit (doubling from 1 s).",
    )
    worker_resource: str = Field(
        default="argus_worker", description="Custom resource every worker node advertises."
    )
    ray_auth: str = Field(
        default="token",
        description="Ray token authentication for clusters the agents start: token or disabled.",
    )
    node_ip: str = Field(
        default="", description="Address this node advertises to Ray (default: default-route source)."
    )
    dashboard_host: str = Field(
        default="", description="Where the head binds the Ray dashboard (default: node_ip, never 0.0.0.0 by accident)."
    )
    ray_gcs_port: int = Field(default=6379, description="GCS port of a head the agent starts.")
    ray_dashboard_port: int = Field(default=8265, description="Dashboard port of a head the agent starts.")
    ray_temp_dir: Path = Field(
        default=Path("/tmp/ray"), description="Ray --temp-dir; all Ray nodes of one host share it."
    )
    head_lease_seconds: float = Field(default=15.0, gt=0, description="Head record lease length.")
    head_renew_seconds: float = Field(default=3.0, gt=0, description="How often the head renews.")
    worker_poll_seconds: float = Field(default=1.0, gt=0, description="Worker re-reads the record this often.")
    worker_num_cpus: int | None = Field(default=None, description="CPUs a worker declares (default: all).")
    worker_num_gpus: int | None = Field(
        default=None, description="Logical GPUs a worker declares (default: what NVML finds)."
    )
    worker_gpu_model: str = Field(default="", description="GPU model a worker declares, e.g. H100.")
    sftp_port: int | None = Field(
        default=None, ge=1, le=65535,
        description="With a port, argus server also serves SFTP there (argus sftp: SFTP alone).",
    )
    sftp_host: str = Field(default="", description="SFTP bind address (default: ARGUS_HOST).")
    sftp_max_sessions: int = Field(default=64, ge=1, description="Concurrent SFTP connections at most.")
    workspace_group: str = Field(
        default="", description="Group given to new workspaces (the group Ray workers run as); "
                                "default: the server user's primary group.",
    )
    upload_chunk_max_bytes: int = Field(
        default=64 * 2**20, ge=2**16, description="Largest body one upload request (one chunk) may carry."
    )
    snapshot_max_bytes: int = Field(
        default=256 * 2**20, ge=2**16,
        description="Largest code snapshot argus submit may upload (files after the ignore rules).",
    )
    storage_usage_ttl_seconds: float = Field(
        default=30.0, ge=0, description="How long a team's measured storage usage is reused (0: walk on every upload).",
    )
    node_name: str = Field(default="", description="A worker's name in <shared root>/cluster/nodes/ (default: host name).")
    worker_drain_seconds: float = Field(
        default=60.0, ge=0,
        description="After a fatal Xid the worker keeps its raylet this long (the server stops and requeues "
        "its tasks with their grace), then leaves Ray.",
    )
    xid_fatal: list[int] = Field(
        default_factory=lambda: [48, 61, 62, 63, 64, 74, 79, 92, 94, 95, 119, 120, 140],
        description="Xid codes that quarantine a worker node (JSON list; docs/operations.md).",
    )
    node_stale_seconds: float = Field(
        default=30.0, gt=0, description="A node record whose heartbeat is older than this has no live agent.",
    )
    ui_session_seconds: float = Field(
        default=8 * 3600.0, gt=0, description="A web UI sign-in lasts this long (or until its token expires)."
    )
    retention_days: float = Field(
        default=30.0, gt=0,
        description="argus gc removes an ended task's checkpoints and logs this long after it ended (unless pinned).",
    )
    event_retention_days: float = Field(
        default=90.0, gt=0,
        description="argus gc compacts an ended task's status events to its last one after this long.",
    )
    doctor_llm_url: str = Field(
        default="", description="OpenAI-compatible base URL (…/v1) argus doctor asks for a diagnosis (empty: none).",
    )
    doctor_llm_model: str = Field(default="", description="Model name sent to ARGUS_DOCTOR_LLM_URL.")
    doctor_llm_key: str = Field(default="", repr=False, description="Bearer key for ARGUS_DOCTOR_LLM_URL (if it needs one).")
    doctor_llm_timeout_seconds: float = Field(default=30.0, gt=0, description="One diagnosis request's time limit.")
    metrics_allow: list[str] = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"],
        description="Addresses or networks (JSON list, CIDR) allowed to read GET /metrics; others get 403.",
    )
    metrics_audit_verify_seconds: float = Field(
        default=300.0, ge=0,
        description="How often /metrics re-verifies the audit chain for argus_audit_chain_ok (0: never).",
    )
    metrics_nodes_cache_seconds: float = Field(
        default=10.0, ge=0, description="How long /metrics reuses Ray's node list.",
    )
    secret_key: str = Field(
        default="", repr=False,
        description="Fernet key (urlsafe base64, 32 bytes) that encrypts users' secrets at rest; "
        "default: a key file made once at <state_dir>/secret.key (0600). Servers sharing one "
        "database must share the key.",
    )
    log_format: str = Field(default="text", description="text or json.")
    log_level: str = Field(default="INFO")

    @field_validator("verl_trees", "priority_classes", "teams", mode="before")
    @classmethod
    def _parse_trees(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @field_validator("metrics_allow", mode="after")
    @classmethod
    def _check_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"{item!r} is not an address or network; write e.g. "
                                 "'10.0.0.0/8' or '127.0.0.1'") from exc
        return value

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.state_dir / 'argus.db').resolve()}"

    @property
    def checkpoint_root(self) -> Path:
        root = self.shared_root if self.shared_root else self.state_dir / "shared"
        return resolved(root / "checkpoints")

    @property
    def shared_dir(self) -> Path:
        """The shared root, or ``<state dir>/shared`` on a one-machine set-up."""
        return resolved(self.shared_root if self.shared_root else self.state_dir / "shared")

    @property
    def log_dir(self) -> Path:
        return (self.state_dir / "logs").resolve()


RESOLVED_FOR_S = 5.0
_resolved: dict[tuple[Path, bool], tuple[float, Path]] = {}


def resolved(path: Path, *, realpath: bool = False) -> Path:
    """``path.resolve()``, kept for a few seconds: the server's own roots are resolved on every
    submit (a walk of lstat calls each time, slow on GPFS); a root re-pointed by an operator is
    followed within RESOLVED_FOR_S. Users' paths are never resolved through this.

    ``realpath``: ``os.path.realpath(path)`` instead, which leaves a symlink loop as it is where
    ``resolve`` raises (the allowed roots of :mod:`argus.services.paths`)."""
    now = time.monotonic()
    key = (path, realpath)
    hit = _resolved.get(key)
    if hit is not None and now - hit[0] < RESOLVED_FOR_S:
        return hit[1]
    real = Path(os.path.realpath(path)) if realpath else path.resolve()
    if len(_resolved) > 256:
        _resolved.clear()
    _resolved[key] = (now, real)
    return real


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
