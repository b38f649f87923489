"""Pure decisions about a live attempt: how it ended, whether it is retried, when Argus stops it.

No DB, no Ray, no clock (it imports only the state machine and the termination reasons, both
pure): the reconciler (argus/control/reconcile.py) loads a :class:`Live` row, asks Ray once per
tick, classifies a failed job with :func:`argus.failures.classify` and applies what these
functions return.

- A job that ends with an infrastructure failure (a transient :class:`Termination`) is LOST and
  then requeued — it resumes from its last checkpoint — while ``retry.max_attempts`` allows, else
  FAILED with that reason; a user error is FAILED at once. A job with no exit code, or that
  vanished from Ray, is such a failure (LOST).
- ``timeout_minutes``: an attempt running past it is stopped (SIGTERM, then SIGKILL after the
  class's grace) and the task ends FAILED "timed out after N min", never retried.
- Placement: while the job's placement groups stay PENDING the task's reason says so; past the
  placement timeout the attempt is stopped and requeued (it counts as an attempt).
"""

from __future__ import annotations

from dataclasses import dataclass

from argus.termination import Termination, Verdict, verdict
from argus.states import TaskStatus

S = TaskStatus
T = Termination


@dataclass(frozen=True)
class Live:
    task_id: int
    status: TaskStatus
    attempt_id: int
    number: int
    submission_id: str
    epoch: int | None
    stop_requested: bool
    checkpoint_dir: str
    attempts: int  # attempts that count against the retry budget (preemptions do not)
    max_attempts: int
    kind: str = "custom"
    started_at: float | None = None  # when Ray reported this attempt RUNNING
    timeout_minutes: float | None = None
    stop_reason: Termination | None = None  # set when Argus itself stopped the attempt
    pending_since: float | None = None  # placement groups pending since


@dataclass(frozen=True)
class Outcome:
    status: TaskStatus  # where the task goes
    reason: str
    termination: Termination | None = None
    attempt_status: TaskStatus | None = None  # what the attempt row records (default: status)
    via_lost: bool = False  # first LOST, then ``status``: a transient failure, retried or out of attempts

    @property
    def attempt_final(self) -> TaskStatus:
        return self.attempt_status or self.status


def needs_classification(live: Live, state_status: str | None) -> bool:
    """Whether the reconciler must read the driver's log tail to decide (only for failures)."""
    return state_status == "FAILED" and live.stop_reason is None


def outcome(live: Live, status: str | None, *, exit_code: int | None = None,
            failure: Verdict | None = None) -> Outcome | None:
    """The task's next status given Ray's job ``status`` (None: Ray does not know the job)."""
    if status == "RUNNING" and live.status is S.SUBMITTED:
        return Outcome(S.RUNNING, "running")
    if status == "SUCCEEDED":
        return Outcome(S.SUCCEEDED, "succeeded")
    if status not in (None, "STOPPED", "FAILED"):
        return None
    if live.status is S.CANCELLING:
        if status == "FAILED":  # it failed on its own before the stop: never retried, it was cancelled
            failure = failure or verdict(T.USER_ERROR)
            return Outcome(S.FAILED, _failed_text(exit_code, failure), failure.reason)
        gone = " (the Ray job was already gone)" if status is None else ""
        return Outcome(S.CANCELLED, f"cancelled{gone}", T.CANCELLED)
    if live.stop_reason is T.TIMED_OUT:
        return Outcome(S.FAILED, f"timed out after {_minutes(live.timeout_minutes)} min "
                                 "(timeout_minutes); not retried", T.TIMED_OUT)
    if live.status is S.PREEMPTING and (status != "FAILED" or failure is None or failure.transient):
        return Outcome(S.QUEUED, "preempted; back in the queue, resumes from its last checkpoint",
                       T.PREEMPTED)
    if live.stop_reason is T.PLACEMENT_TIMEOUT:
        return retry_or_fail(live, verdict(T.PLACEMENT_TIMEOUT, "placement groups never placed"))
    if status is None:
        return retry_or_fail(live, verdict(T.LOST, "the Ray job vanished (head restarted or job deleted)"))
    if status == "STOPPED":
        return retry_or_fail(live, verdict(T.LOST, "the Ray job was stopped outside Argus"))
    failure = failure or verdict(T.USER_ERROR)
    if not failure.transient:
        return Outcome(S.FAILED, _failed_text(exit_code, failure), failure.reason)
    return retry_or_fail(live, failure, exit_code)


def retry_or_fail(live: Live, failure: Verdict, exit_code: int | None = None) -> Outcome:
    """A transient failure: the attempt is LOST, then the task is requeued while the retry budget
    lasts (it resumes from its last checkpoint), else FAILED with the reason."""
    lost = failure.reason is T.LOST
    what = f"lost: {failure.describe()}" if lost else _failed_text(exit_code, failure)
    attempt = S.LOST if lost else S.FAILED
    if live.attempts < live.max_attempts:
        return Outcome(S.QUEUED, f"attempt {live.number} {what}; infrastructure, retrying from its last "
                                 f"checkpoint ({live.attempts}/{live.max_attempts} attempts used)"[:1000],
                       failure.reason, attempt_status=attempt, via_lost=True)
    return Outcome(S.FAILED, f"attempt {live.number} {what}; no attempts left "
                             f"(retry.max_attempts={live.max_attempts})"[:1000],
                   failure.reason, attempt_status=attempt, via_lost=True)


def timed_out(live: Live, now: float) -> bool:
    """Whether a running attempt has passed its task's ``timeout_minutes`` (and is not yet stopped)."""
    return (live.status is S.RUNNING and live.timeout_minutes is not None and live.started_at is not None
            and live.stop_reason is None and now - live.started_at >= live.timeout_minutes * 60)


@dataclass(frozen=True)
class PlacementView:
    """What to do about a job's pending placement groups this tick."""

    pending_since: float | None  # the value to store (None: nothing pending)
    reason: str | None  # the task's reason to show (None: leave it)
    stop: bool = False  # past the limit: stop the attempt and requeue it


def placement(live: Live, pending_gpus: float | None, now: float, limit_s: float) -> PlacementView:
    """``pending_gpus``: GPUs asked for by the job's PENDING placement groups (None: none pending)."""
    if pending_gpus is None:
        return PlacementView(None, "running" if live.pending_since is not None else None)
    since = live.pending_since if live.pending_since is not None else now
    who = "verl" if live.kind == "verl" else "the job"
    waited = now - since
    limit = f"; stopped and requeued after {limit_s:.0f} s" if limit_s > 0 else ""
    wants = f"{_count(pending_gpus)} GPUs" if pending_gpus > 0 else "CPUs"
    reason = f"{who} waits for {wants}: placement group pending for {waited:.0f} s{limit}"
    return PlacementView(since, reason, stop=limit_s > 0 and waited >= limit_s and live.stop_reason is None)


def _failed_text(exit_code: int | None, failure: Verdict) -> str:
    code = f" (exit code {exit_code})" if exit_code is not None else ""
    return f"failed{code}: {failure.describe()}"


def _minutes(value: float | None) -> str:
    return f"{value:g}" if value is not None else "?"


def _count(gpus: float) -> str:
    return f"{gpus:g}"


def backoff_s(failures: int, cap_s: float) -> float:
    """Wait before retrying after ``failures`` transient errors in a row: 1, 2, 4 … s, at most ``cap_s``."""
    return float(min(cap_s, 2 ** max(0, failures - 1)))


def build_error_is_transient(exc: BaseException, shared_root_reachable: bool) -> bool:
    """Building a job (claim, or a resubmit after a crash) failed with ``exc``: retry, or FAILED?

    A shared-filesystem error (EIO, ESTALE, a timeout, a mount gone) is transient; a path that
    is missing or refused while the shared root itself answers is the task's own (permanent),
    as are spec and compile errors (anything that is not an OSError)."""
    if not isinstance(exc, OSError):
        return False
    if isinstance(exc, (FileNotFoundError, NotADirectoryError, PermissionError)):
        return not shared_root_reachable
    return True
