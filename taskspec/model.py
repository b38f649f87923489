"""The task spec: one pydantic model family shared by the CLI, the API and ``argus schema``.

Unknown keys are rejected everywhere (``extra="forbid"``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, field_validator
from pydantic.functional_validators import BeforeValidator

from taskspec.gpu import GpuRequest, format_gpus, parse_gpus

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PRIORITY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
OVERRIDE_RE = re.compile(r"^(\+\+|\+|~)?[A-Za-z_][\w.@/-]*(=.*)?$", re.S)
RESERVED_ENV_PREFIXES = ("ARGUS_", "RAY_")


def _gpus(value: object) -> GpuRequest:
    return value if isinstance(value, GpuRequest) else parse_gpus(value)


Gpus = Annotated[
    GpuRequest,
    BeforeValidator(_gpus),
    PlainSerializer(format_gpus, return_type=str),
    Field(json_schema_extra={"type": ["string", "number"],
                             "examples": ["8", "8(H100)", "0.5(vgpu)", "1(npu,910B)", "-1"]}),
]


def _override(item: str) -> str:
    if not OVERRIDE_RE.match(item) or ("=" not in item and not item.startswith("~")):
        raise ValueError(f"'{item}' is not a hydra override; write key=value, +key=value or ~key")
    return item


def _env_name(key: str) -> str:
    if not ENV_RE.match(key):
        raise ValueError(f"'{key}' is not an environment variable name; use letters, digits "
                         "and '_', not starting with a digit")
    if key.startswith(RESERVED_ENV_PREFIXES):
        raise ValueError(f"'{key}' is reserved (Argus sets ARGUS_* and RAY_* itself); rename it")
    return key


Override = Annotated[str, AfterValidator(_override)]
EnvName = Annotated[str, AfterValidator(_env_name)]


class Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(Base):
    nodes: int = Field(1, ge=1, le=1024, description="Distinct nodes the task needs (gang).")
    gpus_per_node: Gpus = Field(GpuRequest(), description="GPU string, e.g. '8(H100)'.")
    cpus: float = Field(1.0, ge=0, le=1024, description="CPUs per node.")
    memory_gb: float | None = Field(None, gt=0, description="Memory per node, GiB (informative).")


class Checkpoint(Base):
    save_freq: int = Field(100, ge=1, description="Save every N steps (verl's -1 saves nothing).")
    keep: int | None = Field(None, ge=1, description="How many checkpoints to keep.")


class Retry(Base):
    max_attempts: int = Field(3, ge=1, le=100, description="Attempts in all, counting the first; only "
                              "infrastructure failures are retried (preemptions do not count).")


class Reward(Base):
    path: str = Field(min_length=1, description="File with the reward function (shared FS).")
    name: str = Field("compute_score", min_length=1)


class VerlBlock(Base):
    code: str = Field(min_length=1, description="A named verl code path, or a directory.")
    workload: Literal["ppo", "sft"] = "ppo"
    model: str = Field(min_length=1)
    train_files: list[str] = Field(min_length=1)
    val_files: list[str] = Field(default_factory=list)
    reward: Reward | None = None
    overrides: list[Override] = Field(default_factory=list,
                                      description="Hydra overrides: key=value, +key=value, ~key.")


class TaskBase(Base):
    name: str = Field(description="Lower-case letters, digits, '.', '_' and '-'; up to 63.")
    priority: str = Field("batch", min_length=1, description="realtime | online | batch (server's classes).")
    team: str | None = None
    resources: Resources = Field(default_factory=Resources)
    checkpoint: Checkpoint = Field(default_factory=Checkpoint)
    retry: Retry = Field(default_factory=Retry)
    env: dict[EnvName, str] = Field(default_factory=dict,
                                    description="Extra environment; ARGUS_* and RAY_* are reserved.")
    timeout_minutes: float | None = Field(
        None, gt=0, le=525_600,
        description="Wall-clock limit per attempt, from when it starts running (fractions allowed); "
                    "past it the run is stopped with its grace and ends FAILED 'timed out', not retried.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError(f"'{value}' is not a task name; use lower-case letters, digits, "
                             "'.', '_' and '-', starting with a letter or digit (63 at most)")
        return value

    @field_validator("priority")
    @classmethod
    def _priority(cls, value: str) -> str:
        if not PRIORITY_RE.match(value):
            raise ValueError(f"'{value}' is not a priority class name; use a name such as "
                             "realtime, online or batch")
        return value


class VerlTask(TaskBase):
    kind: Literal["verl"]
    verl: VerlBlock


class CustomTask(TaskBase):
    kind: Literal["custom"]
    code: str = Field(min_length=1, description="Directory with the user's code (shared FS).")
    command: list[Annotated[str, Field(strict=True)]] = Field(min_length=1)


TaskSpec = Annotated[VerlTask | CustomTask, Field(discriminator="kind")]
KINDS = {"verl": VerlTask, "custom": CustomTask}


def _absolute(path: str, bases: list[Path]) -> str:
    candidates = [(base / path).resolve() for base in bases]
    return str(next((c for c in candidates if c.exists()), candidates[0]))


def resolve_relative_paths(spec: VerlTask | CustomTask, *base_dirs: str | Path):
    """Make relative code paths absolute: the first of ``base_dirs`` where the path exists wins
    (the CLI passes the working directory, then the task file's directory)."""
    bases = [Path(b) for b in base_dirs] or [Path.cwd()]
    if isinstance(spec, CustomTask) and not Path(spec.code).is_absolute():
        return spec.model_copy(update={"code": _absolute(spec.code, bases)})
    if isinstance(spec, VerlTask) and "/" in spec.verl.code and not Path(spec.verl.code).is_absolute():
        verl = spec.verl.model_copy(update={"code": _absolute(spec.verl.code, bases)})
        return spec.model_copy(update={"verl": verl})
    return spec
