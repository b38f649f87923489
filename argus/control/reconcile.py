"""Reconcile: bring Ray's view of each live attempt into the DB (the DB is the truth).

One ``list_jobs`` per tick (not one call per task) and, while any attempt runs, one list of the
PENDING placement groups; then per attempt: load → decide (argus/scheduling/outcome.py, pure) →
apply, the apply guarded by the status we loaded (never a DB transaction held across a network
call). A failed job's driver log tail is classified (argus/failures.py): infrastructure failures
are retried from the last checkpoint, user errors end FAILED. One bad attempt never stops the
others: its error is logged and the next one is reconciled.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select, update

from argus.db.engine import Database
from argus.db.models import Attempt, Task
from argus.db.store import now, transition, update_attempt
from argus.errors import JobNotFound, RayError, RayUnavailable
from argus.failures import TAIL_CHARS, classify
from argus.ray_adapter import JobState, RayCluster
from argus.scheduling.outcome import Live, Outcome, needs_classification, outcome, placement, timed_out
from argus.verl.checkpoints import latest_step
from argus.states import FOLLOWED, TaskStatus
from argus.termination import Termination

log = logging.getLogger(__name__)
S = TaskStatus
T = Termination
UNCONFIRMED = "Ray is unreachable; status not confirmed since then, retrying every tick"
_RUNNING_NOW = (S.SUBMITTED.value, S.RUNNING.value)


def load_live(db: Database, statuses: frozenset[TaskStatus] = FOLLOWED) -> list[Live]:
    with db.read() as session:
        rows = session.execute(
            select(Task, Attempt)
            .join(Attempt, (Attempt.task_id == Task.id) & (Attempt.number == Task.attempts))
            .where(Task.status.in_([s.value for s in statuses]))
        ).all()
        return [_live(t, a) for t, a in rows]


def _live(t: Task, a: Attempt) -> Live:
    timeout = (t.spec or {}).get("timeout_minutes") if isinstance(t.spec, dict) else None
    return Live(t.id, S(t.status), a.id, a.number, a.submission_id, a.cluster_epoch,
                a.stop_requested_at is not None, t.checkpoint_dir, t.attempts - t.preemptions,
                t.max_attempts, kind=t.kind, started_at=a.started_at,
                timeout_minutes=float(timeout) if timeout else None,
                stop_reason=T(a.termination) if a.termination else None,
                pending_since=a.placement_pending_since)


class Reconciler:
    def __init__(self, db: Database, log_dir: Path, placement_timeout_s: float = 600.0):
        self.db = db
        self.log_dir = log_dir
        self.placement_timeout_s = placement_timeout_s
        self._unreachable_since: float | None = None

    def run(self, cluster: RayCluster, epoch: int | None) -> dict[str, JobState] | None:
        """Reconcile every live attempt; returns Ray's jobs by submission id (None: Ray unreachable)."""
        lives = load_live(self.db)
        try:
            jobs = cluster.list_jobs()
        except RayError as exc:
            log.warning("cannot list Ray jobs; live attempts keep their status: %s", exc)
            self._unreachable(exc)
            return None
        if self._unreachable_since is not None:
            self._reachable_again()
        pending = self._pending(cluster, lives, jobs)
        ts = now()
        for live in lives:
            try:
                self.one(cluster, epoch, live, jobs, pending, ts)
            except RayUnavailable as exc:
                log.warning("Ray became unreachable during reconcile: %s", exc)
                return jobs
            except Exception:  # noqa: BLE001 - one bad attempt must not stop the others
                log.exception("task %s attempt %s: reconcile failed", live.task_id, live.number)
        return jobs

    def _unreachable(self, exc: RayError) -> None:
        """Transient: running attempts keep their status; their reason says it is unconfirmed."""
        if self._unreachable_since is not None:
            return
        self._unreachable_since = now()
        reason = f"{UNCONFIRMED}: {exc.message}"[:1000]
        with self.db.write() as session:
            session.execute(update(Task).where(Task.status.in_(_RUNNING_NOW)).values(reason=reason))

    def _reachable_again(self) -> None:
        self._unreachable_since = None
        with self.db.write() as session:
            for status, reason in ((S.RUNNING, "running"), (S.SUBMITTED, "submitted to Ray")):
                session.execute(update(Task).where(Task.status == status.value,
                                                   Task.reason.startswith(UNCONFIRMED)).values(reason=reason))

    def _pending(self, cluster: RayCluster, lives: list[Live], jobs: dict[str, JobState]) -> dict[str, float]:
        """GPUs asked for by PENDING placement groups, by Ray job id (one call, only when needed)."""
        if self.placement_timeout_s < 0 or not any(
                l.status in (S.SUBMITTED, S.RUNNING) and l.submission_id in jobs for l in lives):
            return {}
        try:
            groups = cluster.pending_placement_groups()
        except RayError as exc:
            log.warning("cannot list placement groups: %s", exc)
            return {}
        by_job: dict[str, float] = {}
        for group in groups:
            by_job[group.job_id] = by_job.get(group.job_id, 0.0) + group.gpus
        return by_job

    def one(self, cluster: RayCluster, epoch: int | None, live: Live, jobs: dict[str, JobState],
            pending: dict[str, float], ts: float) -> None:
        if epoch is not None and live.epoch is not None and live.epoch != epoch:
            state = None  # submitted to an older head: that job table is gone
        else:
            if live.status in (S.CANCELLING, S.PREEMPTING) and not live.stop_requested:
                self._request_stop(cluster, live)
            state = jobs.get(live.submission_id)
        if state is not None and live.status in (S.SUBMITTED, S.RUNNING):
            self._note_progress(live)
            if state.status == "RUNNING" and live.stop_reason is None and \
                    self._enforce_limits(cluster, live, state, pending, ts):
                return
        status = state.status if state is not None else None
        text = None
        failure = None
        if needs_classification(live, status):
            text = self._save_logs(cluster, live, state)
            failure = classify(text[-TAIL_CHARS:], state.message, state.exit_code)
        result = outcome(live, status, exit_code=state.exit_code if state else None, failure=failure)
        if result is None:
            return
        if text is None and result.status is not S.RUNNING:
            self._save_logs(cluster, live, state)
        self.apply(live, result, state)

    def _enforce_limits(self, cluster: RayCluster, live: Live, state: JobState,
                        pending: dict[str, float], ts: float) -> bool:
        """timeout_minutes and the placement timeout; True when Argus stopped the attempt now."""
        if timed_out(live, ts):
            self._stop_for(cluster, live, T.TIMED_OUT,
                           f"timed out after {live.timeout_minutes:g} min (timeout_minutes); stopping")
            return True
        view = placement(live, pending.get(state.job_id or "") if state.job_id else None, ts,
                         self.placement_timeout_s)
        if view.pending_since != live.pending_since or view.reason:
            with self.db.write() as session:
                update_attempt(session, live.attempt_id, placement_pending_since=view.pending_since)
                if view.reason:
                    session.execute(update(Task).where(Task.id == live.task_id, Task.status == live.status.value)
                                    .values(reason=view.reason))
        if view.stop:
            self._stop_for(cluster, live, T.PLACEMENT_TIMEOUT,
                           f"{view.reason}; stopping and requeueing the attempt")
            return True
        return False

    def _stop_for(self, cluster: RayCluster, live: Live, why: Termination, reason: str) -> None:
        """Argus stops the attempt itself; the reason waits on the attempt until Ray reports the end."""
        try:
            cluster.stop(live.submission_id)
        except JobNotFound:
            pass
        with self.db.write() as session:
            update_attempt(session, live.attempt_id, stop_requested_at=now(), termination=why.value)
            session.execute(update(Task).where(Task.id == live.task_id, Task.status == live.status.value)
                            .values(reason=reason))
        log.info("task %s attempt %s: %s", live.task_id, live.number, reason)

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

    def apply(self, live: Live, result: Outcome, state: JobState | None) -> None:
        ts = now()
        fields: dict = {"latest_step": latest_step(live.checkpoint_dir)}
        if state is not None and state.exit_code is not None:
            fields["exit_code"] = state.exit_code
        if result.status is S.RUNNING:
            fields["started_at"] = state.start_time if state and state.start_time else ts
        if result.termination is not None:
            fields["termination"] = result.termination.value
        if result.termination is T.PREEMPTED:
            fields["preemptions"] = Task.preemptions + 1
        with self.db.write() as session:
            first = S.LOST if result.via_lost else result.status
            if not transition(session, live.task_id, live.status, first, reason=result.reason,
                              attempt=live.number, **fields):
                return
            if result.via_lost:
                transition(session, live.task_id, S.LOST, result.status, reason=result.reason, attempt=live.number)
            update_attempt(session, live.attempt_id, **self._attempt_fields(result, state, fields, ts))
        log.info("task %s attempt %s: %s -> %s (%s)", live.task_id, live.number,
                 live.status.value, result.status.value, result.reason)

    @staticmethod
    def _attempt_fields(result: Outcome, state: JobState | None, fields: dict, ts: float) -> dict:
        values = {"status": result.attempt_final.value, "message": result.reason}
        if result.status is S.RUNNING:
            values["started_at"] = fields["started_at"]
        else:
            values["ended_at"] = ts
            values["placement_pending_since"] = None
        if state is not None and state.exit_code is not None:
            values["exit_code"] = state.exit_code
        if result.termination is not None:
            values["termination"] = result.termination.value
        return values

    def _save_logs(self, cluster: RayCluster, live: Live, state: JobState | None) -> str:
        """Keep the driver log after the job ends (Ray forgets jobs when its head restarts);
        returns its text ("" when Ray no longer has it)."""
        if state is None:
            return ""
        try:
            text = cluster.logs(live.submission_id)
        except RayError:
            return ""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.log_dir / f".{live.submission_id}.log.tmp"
        tmp.write_text(text)
        tmp.replace(self.log_dir / f"{live.submission_id}.log")
        return text
