"""Response models: what the OpenAPI document promises each route returns.

The services build plain dicts (one view per thing, in one place); these models describe
them for clients and for schemathesis. They allow extra keys, so a field a service adds
shows up at once (and gets described here when it settles); a declared field missing or of
the wrong type is a server bug that the API tests catch.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from argus.termination import Termination


class Out(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Health(Out):
    status: str
    version: str


class Readiness(Out):
    ready: bool
    checks: dict[str, Any]


class Resources(Out):
    nodes: int
    gpus_per_node: float
    gpu_model: str | None
    cpus_per_node: float


class TaskOut(Out):
    id: int
    name: str
    kind: str
    priority: str
    team: str | None
    owner: str | None
    status: str = Field(description="QUEUED, SUBMITTING, SUBMITTED, RUNNING, PREEMPTING, "
                        "CANCELLING, LOST, SUCCEEDED, FAILED or CANCELLED (docs/lifecycle.md)")
    reason: str
    attempts: int
    max_attempts: int
    latest_step: int | None
    exit_code: int | None
    termination: Termination | None = Field(
        None, description="Why the task's last ended attempt ended, e.g. NCCL_TIMEOUT (retried) or "
                          "USER_ERROR (not retried); docs/lifecycle.md lists them")
    checkpoint_dir: str
    resources: Resources
    command: list[str] | None
    resubmit_of: int | None
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None
    submission_id: str | None
    placement: list[Any]


class AttemptOut(Out):
    number: int
    submission_id: str
    status: str
    message: str | None = None
    exit_code: int | None = None
    termination: Termination | None = Field(None, description="Why this attempt ended (docs/lifecycle.md)")
    created_at: float
    started_at: float | None = None
    ended_at: float | None = None


class TaskDetail(TaskOut):
    attempt_history: list[AttemptOut]


class TaskList(Out):
    items: list[TaskOut]
    total: int = Field(description="Every task that matches the filters, whatever the page")
    limit: int
    offset: int
    after: int | None = Field(None, description="The cursor this page was asked after, if any")
    next_after: int | None = Field(
        None, description="Pass as `after` for the next page (keyset: as fast at any depth, and "
                          "tasks submitted meanwhile neither shift nor repeat rows); null on the last page")


class DryRun(Out):
    dry_run: bool
    spec: dict[str, Any]
    entrypoint: str
    argv: list[str]
    runtime_env: dict[str, Any]
    entrypoint_num_cpus: float
    entrypoint_num_gpus: float
    entrypoint_resources: dict[str, float]
    decision: dict[str, Any]


class EventOut(Out):
    id: int
    ts: float
    attempt: int | None
    from_status: str | None = Field(alias="from")
    to: str
    reason: str
    actor: str | None


class EventList(Out):
    items: list[EventOut]


class WhoAmI(Out):
    user: str
    role: str
    team: str | None
    token: str | None
    permissions: dict[str, str]


class TeamOut(Out):
    name: str
    description: str


class TeamList(Out):
    items: list[dict[str, Any]]


class UserOut(Out):
    name: str
    team: str | None
    role: str


class UserList(Out):
    items: list[UserOut]


class TokenOut(Out):
    user: str
    name: str
    prefix: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None


class NewToken(TokenOut):
    token: str = Field(description="The secret, shown this once.")


class TokenList(Out):
    items: list[TokenOut]


class FirstBroken(Out):
    id: int
    time: str
    reason: str


class AnchorCheck(Out):
    entries: int
    head_hash: str
    ok: bool
    reason: str | None


class VerifyReport(Out):
    ok: bool
    entries: int
    head_hash: str | None
    first_broken: FirstBroken | None
    anchor: AnchorCheck | None = None


class NodeList(Out):
    items: list[dict[str, Any]]
    ray_reachable: bool


TEXT = {"content": {"text/plain": {"schema": {"type": "string"}}}}


class NodeRelease(Out):
    name: str
    released_by: str
    requested_at: float
    was: str
    message: str
