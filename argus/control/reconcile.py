"""Reconcile: bring Ray's view of each live attempt into the DB (the DB is the truth).

load → ask Ray → apply, the apply guarded by the status we loaded (never a DB transaction
held across a network call).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from argus.db.engine import Database
from argus.db.models import Attempt, Task
from argus.db.store import now, transition, update_attempt
from argus.errors import JobNotFound, RayError, RayUnavailable
from argus.ray_adapter import JobState, RayCluster
from argus.verl.checkpoints import latest_step
from argus.states import FOLLOWED, TaskStatus

log = logging.getLogger(__name__)
S = TaskStatus


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


def load_live(db: Database, statuses: frozenset[TaskStatus] = FOLLOWED) -> list[Live]:
    with db.read() as session:
        rows = session.execute(
            select(Task, Attempt)
            .join(Attempt, (Attempt.task_id == Task.id) & (Attempt.number == Task.attempts))
            .where(Task.status.in_([s.value for s in statuses]))
        ).all()
        return [
            Live(t.id, S(t.status), a.id, a.number, a.submission_id, a.cluster_epoch,
                 a.stop_requested_at is not None, t.checkpoint_dir, t.attempts - t.preemptions, t.max_attempts)
            for t, a in rows
        ]


def outcome(live: Live, state: JobState | None) -> tuple[TaskStatus, str] | None:
    """Pure: the status a live attempt moves to given Ray's job state (None: job unknown)."""
    if state is None:
        if live.status is S.CANCELLING:
            return S.CANCELLED, "cancelled (the Ray job was already gone)"
        if live.status is S.PREEMPTING:
            return S.QUEUED, "preempted; back in the queue"
        return S.LOST, "the Ray job vanished (head restarted or job deleted)"
    if state.status == "RUNNING" and live.status is S.SUBMITTED:
        return S.RUNNING, "running"
    if state.status == "SUCCEEDED":
        return S.SUCCEEDED, "succeeded"
    if state.status == "FAILED":
        code = f" (exit code {state.exit_code})" if state.exit_code is not None else ""
        return S.FAILED, f"failed{code}: {state.message.splitlines()[0] if state.message else ''}"[:500]
    if state.status == "STOPPED":
        if live.status is S.CANCELLING:
            return S.CANCELLED, "cancelled"
        if live.status is S.PREEMPTING:
            return S.QUEUED, "preempted; back in the queue, resumes from its last checkpoint"
        return S.LOST, "the Ray job was stopped outside Argus"
    return None


class Reconciler:
    def __init__(self, db: Database, log_dir: Path):
        self.db = db
        self.log_dir = log_dir

    def run(self, cluster: RayCluster, epoch: int | None) -> None:
        for live in load_live(self.db):
            try:
                self.one(cluster, epoch, live)
            except RayUnavailable:
                return  # the cluster is down; try everything again next tick
            except RayError as exc:
                log.warning("task %s attempt %s: reconcile failed: %s", live.task_id, live.number, exc)

    def one(self, cluster: RayCluster, epoch: int | None, live: Live) -> None:
        if epoch is not None and live.epoch is not None and live.epoch != epoch:
            state = None  # submitted to an older head: that job table is gone
        else:
            if live.status in (S.CANCELLING, S.PREEMPTING) and not live.stop_requested:
                self._request_stop(cluster, live)
            try:
                state = cluster.status(live.submission_id)
            except JobNotFound:
                state = None
        if state is not None and live.status in (S.SUBMITTED, S.RUNNING):
            self._note_progress(live)
        result = outcome(live, state)
        if result is None:
            return
        dst, reason = result
        if dst.is_terminal() or dst in (S.LOST, S.QUEUED):
            self._save_logs(cluster, live, state)
        self.apply(live, dst, reason, state)

    def _request_stop(self, cluster: RayCluster, live: Live) -> None:
        try:
            cluster.stop(live.submission_id)
        except JobNotFound:
            pass
        with self.db.write() as session:
            update_attempt(session, live.attempt_id, stop_requested_at=now())
        log.info("task %s attempt %s: stop requested (%s)", live.task_id, live.number, live.status.value)

    def _note_progress(self, live: Live) -> None:
        step = latest_step(live.checkpoint_dir)
        if step is None:
            return
        with self.db.write() as session:
            session.query(Task).filter(Task.id == live.task_id).update({"latest_step": step})

    def apply(self, live: Live, dst: TaskStatus, reason: str, state: JobState | None) -> None:
        ts = now()
        fields: dict = {"latest_step": latest_step(live.checkpoint_dir)}
        if state is not None and state.exit_code is not None:
            fields["exit_code"] = state.exit_code
        if dst is S.RUNNING:
            fields["started_at"] = state.start_time if state and state.start_time else ts
        if dst is S.QUEUED:
            fields["preemptions"] = Task.preemptions + 1
        with self.db.write() as session:
            if not transition(session, live.task_id, live.status, dst, reason=reason,
                              attempt=live.number, **fields):
                return
            attempt_fields = {"status": dst.value, "message": reason}
            if dst is not S.RUNNING:
                attempt_fields["ended_at"] = ts
            else:
                attempt_fields["started_at"] = fields["started_at"]
            if state is not None and state.exit_code is not None:
                attempt_fields["exit_code"] = state.exit_code
            update_attempt(session, live.attempt_id, **attempt_fields)
            if dst is S.LOST:
                self._after_lost(session, live)
        log.info("task %s attempt %s: %s -> %s (%s)", live.task_id, live.number,
                 live.status.value, dst.value, reason)

    def _after_lost(self, session, live: Live) -> None:  # noqa: ANN001
        if live.attempts < live.max_attempts:
            transition(session, live.task_id, S.LOST, S.QUEUED, attempt=live.number,
                       reason=f"requeued after a lost attempt ({live.attempts}/{live.max_attempts} "
                              "attempts used); resumes from its last checkpoint")
        else:
            transition(session, live.task_id, S.LOST, S.FAILED, attempt=live.number,
                       reason=f"lost {live.attempts} time(s); no attempts left "
                              f"(retry.max_attempts={live.max_attempts})")

    def _save_logs(self, cluster: RayCluster, live: Live, state: JobState | None) -> None:
        """Keep the driver log after the job ends: Ray forgets jobs when its head restarts."""
        if state is None:
            return
        try:
            text = cluster.logs(live.submission_id)
        except RayError:
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.log_dir / f".{live.submission_id}.log.tmp"
        tmp.write_text(text)
        tmp.replace(self.log_dir / f"{live.submission_id}.log")
