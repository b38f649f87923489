"""Classify a failed attempt from the driver log's tail, Ray's job message and the exit code.

A pure, table-driven function: :data:`PATTERNS` is searched in order and the first row that
matches decides; the order puts root causes before their consequences (an ECC error or an
OOM kill makes NCCL time out and actors die, so those rows come first). The rows quote what
the programs really print — PyTorch's NCCL watchdog, Ray's actor/worker/node errors and its
memory monitor, the CUDA runtime, the kernel, bash — and verl's rows come from
:mod:`argus.verl.failures`. With no row matching, an attempt with no exit code is LOST
(its driver's node or the head went away) and a non-zero exit is the user's own error.
"""

from __future__ import annotations

import re

from argus.termination import Pattern, Termination, Verdict, row, verdict
from argus.verl.failures import PATTERNS as VERL_PATTERNS

T = Termination
# How much of the log's end and of Ray's message is searched.
TAIL_CHARS = 64 * 1024

_HARDWARE = (
    row(T.CUDA_ECC_XID, "CUDA",
        r"uncorrectable ECC error encountered", r"CUDA_ERROR_ECC_UNCORRECTABLE",
        r"NVRM: Xid \(PCI:[^)]*\): \d+", r"GPU has fallen off the bus",
        r"CUDA error: unrecoverable error|CUDA_ERROR_ILLEGAL_STATE"),
    row(T.OOM_KILLED, "Ray/kernel",
        r"Task was killed due to the node running low on memory",
        r"ray\.exceptions\.OutOfMemoryError", r"Worker exit type: NODE_OUT_OF_MEMORY",
        r"killed due to memory pressure \(OOM\)",
        r"Out of memory: Killed process \d+", r"oom-kill:",
        # a shell reporting a child killed by SIGKILL: "Killed" alone, or "line 1: 123 Killed  cmd"
        r"^Killed$", r"^\S+: line \d+: +\d+ Killed\b"),
    row(T.NODE_DIED, "Ray",
        r"has been marked dead because the detector has missed too many heartbeats",
        r"The actor died because its node has died", r"NodeDiedError",
        r"node manager has mistakenly been marked (?:as )?dead", r"Raylet is terminated",
        r"The node with node id:? \S+ .*(?:has died|is dead|was terminated)"),
)
_USER_FIRST = (
    row(T.GPU_OOM, "PyTorch", r"torch\.(?:cuda\.)?OutOfMemoryError", r"CUDA out of memory\. Tried to allocate"),
    # An actor that raised in __init__ or exited on purpose is the user's code, not Ray's.
    row(T.USER_ERROR, "Ray",
        r"The actor died because of an error raised in its creation task",
        r"Worker exit type: (?:USER_ERROR|INTENDED_USER_EXIT)"),
)
_COMMUNICATION = (
    row(T.NCCL_TIMEOUT, "PyTorch/NCCL",
        r"Watchdog caught collective operation timeout",
        r"Exception \(either an error or timeout\) detected by watchdog",
        r"Some NCCL operations have failed or timed out"),
    row(T.NCCL_ERROR, "NCCL",
        r"ncclRemoteError|ncclSystemError", r"NCCL communicator was aborted",
        r"NCCL error.*(?:unhandled system error|remote process exited|network error)"),
    row(T.ACTOR_DIED, "Ray",
        r"ActorDiedError|RayActorError", r"The actor died unexpectedly before finishing this task",
        r"The actor is dead because its worker process has died",
        r"A worker died or was killed while executing a task by an unexpected system error",
        r"OwnerDiedError", r"The object's owner has exited", r"ActorUnavailableError"),
    row(T.RAY_UNREACHABLE, "Ray",
        r"Failed to connect to GCS", r"GCS has been unreachable|Failed to get cluster ID from GCS",
        r"Could not find any running Ray instance"),
)
_JOB_MESSAGE = (
    row(T.RUNTIME_ENV_FAILED, "Ray job", r"runtime_env setup failed", r"RuntimeEnvSetupError"),
    row(T.DRIVER_NOT_STARTED, "Ray job",
        r"Job supervisor actor could not be scheduled", r"Job supervisor actor failed to start",
        r"Failed to start supervisor actor", r"failed to get job supervisor"),
)

PATTERNS: tuple[Pattern, ...] = (*_HARDWARE, *_USER_FIRST, *VERL_PATTERNS, *_COMMUNICATION, *_JOB_MESSAGE)

_EXCEPTION_LINE = re.compile(r"^(?:\(\S+ pid=\d+\) )?\s*((?:[A-Za-z_][\w.]*)?(?:Error|Exception|Interrupt)\b.*)$",
                             re.MULTILINE)
SIGKILL_CODES = frozenset({137, -9})


def classify(log_tail: str, message: str, exit_code: int | None) -> Verdict:
    """Why a job that Ray reports FAILED failed. ``log_tail`` is the end of the driver's log,
    ``message`` Ray's job message, ``exit_code`` the driver's (None: it never gave one)."""
    text = f"{(message or '')[-TAIL_CHARS:]}\n{(log_tail or '')[-TAIL_CHARS:]}"
    for pattern in PATTERNS:
        match = pattern.regex.search(text)
        if match is not None:
            return verdict(pattern.reason, _line_at(text, match.start()))
    if exit_code is None:
        return verdict(T.LOST, _first_line(message))
    if exit_code in SIGKILL_CODES:
        return verdict(T.OOM_KILLED, f"killed by SIGKILL (exit code {exit_code}), most likely the "
                                     "kernel's OOM killer")
    return verdict(T.USER_ERROR, _last_exception(log_tail) or _last_exception(message)
                   or _first_line(message))


def _line_at(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start:end if end >= 0 else len(text)].strip()


def _first_line(text: str) -> str:
    return (text or "").strip().split("\n", 1)[0]


def _last_exception(text: str) -> str:
    found = _EXCEPTION_LINE.findall((text or "")[-TAIL_CHARS:])
    return found[-1].strip() if found else ""
