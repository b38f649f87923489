"""The pure decisions about a live attempt: retry or not, LOST, timeout, placement."""

from __future__ import annotations

from dataclasses import replace

from argus.failures import classify
from argus.termination import verdict
from argus.scheduling.outcome import (
    Live, backoff_s, build_error_is_transient, needs_classification, outcome, placement, timed_out,
)
from argus.states import TaskStatus, can_transition
from argus.termination import Termination

S = TaskStatus
T = Termination
RUN = Live(task_id=7, status=S.RUNNING, attempt_id=70, number=1, submission_id="argus-abc-7-1", epoch=1,
           stop_requested=False, checkpoint_dir="/ckpt/7", attempts=1, max_attempts=3, kind="verl",
           started_at=1000.0, timeout_minutes=None)
NCCL = "[Rank 0] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=5, OpType=ALLREDUCE) ran for 600013 ms"


def legal(live: Live, result) -> bool:  # noqa: ANN001
    """Every decision is a path the state machine allows."""
    if result.via_lost:
        return can_transition(live.status, S.LOST) and can_transition(S.LOST, result.status)
    return can_transition(live.status, result.status)


def test_infra_failure_is_requeued_with_the_reason_while_attempts_are_left():
    result = outcome(RUN, "FAILED", exit_code=1, failure=classify(NCCL, "", 1))
    assert result.status is S.QUEUED and result.attempt_final is S.FAILED and result.via_lost
    assert result.termination is T.NCCL_TIMEOUT
    assert "NCCL_TIMEOUT" in result.reason and "retrying from its last checkpoint" in result.reason
    assert "1/3 attempts used" in result.reason and legal(RUN, result)


def test_infra_failure_with_no_attempts_left_is_failed_with_its_reason():
    last = replace(RUN, number=3, attempts=3)
    result = outcome(last, "FAILED", exit_code=1, failure=classify(NCCL, "", 1))
    assert result.status is S.FAILED and result.termination is T.NCCL_TIMEOUT
    assert "no attempts left (retry.max_attempts=3)" in result.reason and legal(last, result)


def test_user_error_is_failed_at_once_and_not_retried():
    failure = classify("ValueError: bad learning rate\n", "", 1)
    result = outcome(RUN, "FAILED", exit_code=1, failure=failure)
    assert result.status is S.FAILED and result.termination is T.USER_ERROR
    assert "exit code 1" in result.reason and "ValueError: bad learning rate" in result.reason


def test_no_exit_code_is_lost_then_requeued():
    failure = classify("", "Job supervisor actor died: The actor died because its node has died.", None)
    result = outcome(RUN, "FAILED", exit_code=None, failure=failure)
    assert result.status is S.QUEUED and result.termination is T.NODE_DIED
    unknown = classify("", "", None)
    lost = outcome(RUN, "FAILED", failure=unknown)
    assert lost.via_lost and lost.status is S.QUEUED and lost.attempt_final is S.LOST and legal(RUN, lost)
    vanished = outcome(RUN, None)
    assert vanished.via_lost and vanished.termination is T.LOST and legal(RUN, vanished)
    assert outcome(replace(RUN, attempts=3), None).status is S.FAILED


def test_timeout_is_failed_and_never_retried():
    live = replace(RUN, timeout_minutes=0.5, started_at=1000.0)
    assert not timed_out(live, 1029.0) and timed_out(live, 1030.0)
    assert not timed_out(replace(live, status=S.SUBMITTED), 5000.0)  # not running yet: no clock
    assert not timed_out(replace(RUN, started_at=0.0), 10**9)  # no timeout_minutes
    stopping = replace(live, stop_reason=T.TIMED_OUT, stop_requested=True)
    assert not timed_out(stopping, 5000.0)  # asked once
    for status in ("STOPPED", "FAILED", None):
        result = outcome(stopping, status, exit_code=143 if status == "FAILED" else None)
        assert result.status is S.FAILED and result.termination is T.TIMED_OUT
        assert result.reason.startswith("timed out after 0.5 min") and legal(stopping, result)
    assert outcome(stopping, "SUCCEEDED").status is S.SUCCEEDED  # it finished in its grace time
    assert not needs_classification(stopping, "FAILED")


def test_placement_pending_reason_then_stop_and_requeue():
    first = placement(RUN, 16.0, now=2000.0, limit_s=300)
    assert first.pending_since == 2000.0 and not first.stop
    assert first.reason.startswith("verl waits for 16 GPUs: placement group pending")
    waiting = replace(RUN, pending_since=2000.0)
    assert not placement(waiting, 16.0, now=2299.0, limit_s=300).stop
    late = placement(waiting, 16.0, now=2300.0, limit_s=300)
    assert late.stop and late.pending_since == 2000.0
    assert not placement(waiting, 16.0, now=10**6, limit_s=0).stop  # 0: never stopped
    assert placement(waiting, None, now=2301.0, limit_s=300) .pending_since is None
    custom = placement(replace(RUN, kind="custom"), 2.0, now=1.0, limit_s=60)
    assert custom.reason.startswith("the job waits for 2 GPUs")
    assert placement(RUN, 0.0, now=1.0, limit_s=60).reason.startswith("verl waits for CPUs: placement group")
    stopped = replace(waiting, stop_reason=T.PLACEMENT_TIMEOUT, stop_requested=True)
    result = outcome(stopped, "STOPPED")
    assert result.status is S.QUEUED and result.termination is T.PLACEMENT_TIMEOUT and legal(stopped, result)
    assert outcome(replace(stopped, attempts=3), "STOPPED").status is S.FAILED


def test_cancel_and_preempt_keep_their_meaning():
    cancelling = replace(RUN, status=S.CANCELLING)
    assert outcome(cancelling, "STOPPED").status is S.CANCELLED
    assert outcome(cancelling, None).status is S.CANCELLED
    failed = outcome(cancelling, "FAILED", exit_code=1, failure=classify(NCCL, "", 1))
    assert failed.status is S.FAILED  # cancelled by its owner: never retried
    preempting = replace(RUN, status=S.PREEMPTING)
    back = outcome(preempting, "STOPPED")
    assert back.status is S.QUEUED and back.termination is T.PREEMPTED
    assert outcome(preempting, "FAILED", exit_code=1, failure=verdict(T.USER_ERROR)).status is S.FAILED


def test_running_and_success():
    submitted = replace(RUN, status=S.SUBMITTED)
    assert outcome(submitted, "RUNNING").status is S.RUNNING
    assert outcome(RUN, "RUNNING") is None and outcome(RUN, "PENDING") is None
    assert outcome(RUN, "SUCCEEDED").status is S.SUCCEEDED
    stopped_outside = outcome(RUN, "STOPPED")
    assert stopped_outside.via_lost and stopped_outside.status is S.QUEUED


def test_backoff_doubles_up_to_the_cap():
    assert [backoff_s(n, 60) for n in (1, 2, 3, 4, 7, 20)] == [1, 2, 4, 8, 60, 60]


def test_build_errors_transient_or_permanent():
    import errno

    assert build_error_is_transient(OSError(errno.EIO, "Input/output error"), True)
    assert build_error_is_transient(OSError(errno.ESTALE, "Stale file handle"), True)
    assert build_error_is_transient(TimeoutError("gpfs"), True)
    assert not build_error_is_transient(FileNotFoundError("code tree gone"), True)
    assert build_error_is_transient(FileNotFoundError("code tree gone"), False)  # the mount is gone
    assert not build_error_is_transient(ValueError("'v9' is not a verl code path"), True)
