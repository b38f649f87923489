"""Why an attempt ended: the typed termination reasons and which of them are worth a retry.

Pure data, no I/O. :mod:`argus.failures` classifies a finished Ray job into one of these;
the control loop stores it on the attempt and the task and decides retry versus FAILED from
:func:`is_transient`. Pattern rows (regular expressions over the driver log's tail and Ray's job
message) are :class:`Pattern` values; verl's own rows live in :mod:`argus.verl.failures`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Termination(str, enum.Enum):
    # The user's program: not retried.
    USER_ERROR = "USER_ERROR"            # exited non-zero for a reason of its own
    GPU_OOM = "GPU_OOM"                  # CUDA out of memory: the configuration does not fit
    RUNTIME_ENV_FAILED = "RUNTIME_ENV_FAILED"  # Ray could not build the job's runtime_env
    TIMED_OUT = "TIMED_OUT"              # ran past the task's timeout_minutes
    REJECTED = "REJECTED"                # Ray refused the job at submission (4xx)
    COMPILE_ERROR = "COMPILE_ERROR"      # the job could not be built (code tree gone, bad spec)
    # The infrastructure: retried from the last checkpoint while retry.max_attempts allows.
    NCCL_TIMEOUT = "NCCL_TIMEOUT"        # NCCL watchdog: a collective ran past its timeout
    NCCL_ERROR = "NCCL_ERROR"            # NCCL remote/system error, communicator aborted
    ACTOR_DIED = "ACTOR_DIED"            # a Ray actor/worker process or an object's owner died
    NODE_DIED = "NODE_DIED"              # a Ray node died (heartbeats missed, raylet gone)
    GPUS_UNAVAILABLE = "GPUS_UNAVAILABLE"  # fewer GPUs free in Ray than the run asked for
    CUDA_ECC_XID = "CUDA_ECC_XID"        # GPU hardware: uncorrectable ECC, Xid, off the bus
    OOM_KILLED = "OOM_KILLED"            # host memory: OOM killer or Ray's memory monitor
    PLACEMENT_TIMEOUT = "PLACEMENT_TIMEOUT"  # placement groups pending past the limit
    RAY_UNREACHABLE = "RAY_UNREACHABLE"  # the driver or Argus could not reach Ray
    DRIVER_NOT_STARTED = "DRIVER_NOT_STARTED"  # Ray could not start or schedule the driver
    LOST = "LOST"                        # ended with no exit code, or the job vanished from Ray
    # Ended on purpose.
    PREEMPTED = "PREEMPTED"
    CANCELLED = "CANCELLED"

    def __str__(self) -> str:
        return self.value


T = Termination

# Only these are retried; everything else ends the task (or, for PREEMPTED, requeues it
# without using a retry).
TRANSIENT: frozenset[Termination] = frozenset({
    T.NCCL_TIMEOUT, T.NCCL_ERROR, T.ACTOR_DIED, T.NODE_DIED, T.GPUS_UNAVAILABLE, T.CUDA_ECC_XID,
    T.OOM_KILLED, T.PLACEMENT_TIMEOUT, T.RAY_UNREACHABLE, T.DRIVER_NOT_STARTED, T.LOST,
})

SUMMARY: dict[Termination, str] = {
    T.USER_ERROR: "the program failed",
    T.GPU_OOM: "CUDA out of memory (reduce the micro-batch size or the sequence length)",
    T.RUNTIME_ENV_FAILED: "Ray could not set up the job's runtime environment",
    T.TIMED_OUT: "ran past timeout_minutes",
    T.REJECTED: "Ray rejected the job",
    T.COMPILE_ERROR: "the Ray job could not be built",
    T.NCCL_TIMEOUT: "an NCCL collective timed out (watchdog)",
    T.NCCL_ERROR: "NCCL communication failed",
    T.ACTOR_DIED: "a Ray actor or worker process died",
    T.NODE_DIED: "a Ray node died",
    T.GPUS_UNAVAILABLE: "Ray had fewer GPUs free than the run asked for",
    T.CUDA_ECC_XID: "GPU hardware error (ECC/Xid)",
    T.OOM_KILLED: "killed for lack of host memory (OOM)",
    T.PLACEMENT_TIMEOUT: "placement groups stayed pending past the limit",
    T.RAY_UNREACHABLE: "Ray was unreachable",
    T.DRIVER_NOT_STARTED: "Ray could not start the job's driver",
    T.LOST: "the attempt ended without an exit code (its node or the Ray head went away)",
    T.PREEMPTED: "preempted",
    T.CANCELLED: "cancelled",
}


def is_transient(reason: Termination | str) -> bool:
    return Termination(reason) in TRANSIENT


@dataclass(frozen=True)
class Pattern:
    """One row of a classification table: ``regex`` found in the text means ``reason``."""

    reason: Termination
    regex: re.Pattern[str]
    source: str  # where the line comes from (documentation and tests): "NCCL", "Ray", "verl", …


def row(reason: Termination, source: str, *alternatives: str) -> Pattern:
    """A pattern from alternatives (regular expressions, any of which matches), case-sensitive:
    the texts are fixed strings printed by programs, not prose."""
    return Pattern(reason, re.compile("|".join(f"(?:{a})" for a in alternatives), re.MULTILINE), source)


@dataclass(frozen=True)
class Verdict:
    reason: Termination
    transient: bool
    evidence: str  # the line that decided, or the best line there is

    @property
    def summary(self) -> str:
        return SUMMARY[self.reason]

    def describe(self) -> str:
        """``NCCL_TIMEOUT (an NCCL collective timed out (watchdog)): <the line>``."""
        text = f"{self.reason.value} ({self.summary})"
        return f"{text}: {self.evidence}" if self.evidence else text


def verdict(reason: Termination, evidence: str = "") -> Verdict:
    return Verdict(reason, is_transient(reason), _clip(evidence))


def _clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
