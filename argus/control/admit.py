"""Admission: snapshot → plan → claim → submit → SUBMITTED. Also retries stuck SUBMITTING.

A claim is one transaction: QUEUED→SUBMITTING, a new attempt row with its submission id
``argus-<installation>-<task>-<attempt>``, and (first time only) the task's resolved command. Submitting
happens after the commit; Ray's "already exists" counts as submitted, so a retry after a
crash can never start a second live attempt.
"""

from __future__ import annotations

import dataclasses
import logging

from sqlalchemy import bindparam, select, update

from argus.control.loans import open_loans, rebalance_now
from argus.control.reconcile import load_live
from argus.db.engine import Database
from argus.db.models import Attempt, FairShareUsage, Preemption, Task
from argus.db.store import installation_id, now, transition, update_attempt
from argus.errors import ArgusError, JobAlreadyExists, JobRejected, RayError
from argus.ray_adapter import JobState, RayCluster
from argus.scheduling.fairshare import accrue, charge_of, decay
from argus.scheduling.outcome import backoff_s, build_error_is_transient
from argus.scheduling.planner import Admit, Node, Pending, Preempt, Snapshot, Wait, plan
from argus.scheduling.policy import Policy
from argus.scheduling.rebalance import apply_loans
from argus.services.policy import PolicySource
from argus.services import secrets
from argus.services.prepare import Preparer
from argus.control.drain import Quarantines, agent_names, drain, pin_driver
from argus.services.snapshot import build_snapshot, worker_nodes
from argus.settings import Settings
from argus.states import TaskStatus
from argus.termination import Termination
from taskspec import CompileError, SpecError, SpecIssue, load_spec_data

log = logging.getLogger(__name__)
S = TaskStatus


class PathsRefused(ArgusError):
    """A path the task names no longer resolves inside the roots its owner may use (a symlink
    changed since submit): the task is not run (permanent, COMPILE_ERROR with the reason)."""

    def __init__(self, issues: list[SpecIssue]):
        super().__init__("checked again at admission: " + "; ".join(f"{i.path}: {i.message}" for i in issues))


def save_usage(db: Database, policy: Policy, snapshot: Snapshot, admitted: list[Pending]) -> None:
    """Persist fair-share usage: decayed, the running tasks accrued, admissions charged at once."""
    with db.write() as session:
        rows = {row.team: row for row in session.scalars(select(FairShareUsage))}
        stored = {team: row.usage for team, row in rows.items()}
        elapsed = {team: snapshot.now - row.updated_at for team, row in rows.items()}
        usage = {team: decay(stored[team], elapsed[team], policy.half_life_seconds) for team in stored}
        since = min(elapsed.values(), default=0.0)
        usage = accrue(usage, [(r.team, r.demand) for r in snapshot.running if not r.preempting],
                       since, policy.half_life_seconds) if since > 0 else usage
        for p in admitted:
            usage[p.team or ""] = usage.get(p.team or "", 0.0) + charge_of(p.demand)
        for team, value in usage.items():
            if team in rows:
                rows[team].usage, rows[team].updated_at = value, snapshot.now
            else:
                session.add(FairShareUsage(team=team, usage=value, updated_at=snapshot.now))


class Admitter:
    def __init__(self, db: Database, settings: Settings, preparer: Preparer, policy: Policy | None = None):
        self.db = db
        self.settings = settings
        self.preparer = preparer
        # a fixed policy (tests, simulations) or the process's one source (settings + database)
        self.source = PolicySource(settings, base=policy) if policy is not None else preparer.policy
        self._rebalanced_at = 0.0
        self._job_prefix: str | None = None
        self._backoff: dict[int, tuple[int, float]] = {}  # task id -> (transient errors in a row, retry at)
        self.quarantines = Quarantines(settings)
        self.names: dict[str, str] = {}  # Ray node id -> worker agent name (drivers are pinned)

    @property
    def job_prefix(self) -> str:
        """``argus-<installation id>``: submission ids are argus-<installation>-<task>-<attempt>."""
        if self._job_prefix is None:
            with self.db.read() as session:
                self._job_prefix = f"argus-{installation_id(session)}"
        return self._job_prefix

    def run(self, cluster: RayCluster | None, epoch: int | None, why_not: str = "",
            jobs: dict[str, JobState] | None = None) -> None:
        """``jobs``: Ray's jobs as the reconciler listed them this tick (None: not listed)."""
        nodes: list[Node] = []
        reachable = cluster is not None
        if cluster is not None:
            try:
                infos = cluster.nodes()
            except RayError as exc:
                log.warning("cannot list Ray nodes: %s", exc)
                reachable = False
            else:
                self.names = agent_names(infos)
                quarantined = self.quarantines.of(infos)  # a quarantined node gets no new work
                nodes = worker_nodes([i for i in infos if i.node_id not in quarantined],
                                     self.settings.worker_resource)
                drain(self.db, cluster, quarantined, jobs)
        if cluster is not None and reachable and jobs is not None:
            self.retry_submitting(cluster, epoch, jobs)
        policy = self.current_policy()
        snapshot = build_snapshot(self.db, self.settings, nodes, reachable, policy)
        pending = {p.task_id: p for p in snapshot.pending}
        admitted: list[Pending] = []
        waits: dict[int, str] = {}
        for decision in plan(snapshot, policy):
            try:
                if isinstance(decision, Wait):
                    waits[decision.task_id] = (decision.reason if reachable or not why_not
                                               else f"waiting for the Ray cluster: {why_not}")
                elif isinstance(decision, Preempt):
                    self.preempt(decision)
                elif isinstance(decision, Admit) and cluster is not None:
                    if self.admit(cluster, epoch, decision):
                        admitted.append(pending[decision.task_id])
            except Exception:  # noqa: BLE001 - one bad task must not stop the others' decisions
                log.exception("task %s: acting on %s failed", getattr(decision, "task_id", "?"),
                              type(decision).__name__)
        self._set_reasons(waits)
        if reachable:
            save_usage(self.db, policy, snapshot, admitted)

    def current_policy(self) -> Policy:
        """The policy with open quota loans folded in; rebalances first when the period is up."""
        period = self.settings.rebalance_period_seconds
        policy = self.source.current()
        if not policy.teams or period <= 0:
            return policy
        if now() - self._rebalanced_at >= period:
            self._rebalanced_at = now()
            snapshot = build_snapshot(self.db, self.settings, [], True, policy)
            rebalance_now(self.db, policy, snapshot, self.settings.rebalance_threshold)
        return apply_loans(policy, open_loans(self.db))

    def preempt(self, decision: Preempt) -> bool:
        """RUNNING/SUBMITTED → PREEMPTING; the reconciler stops the Ray job and requeues the task."""
        with self.db.write() as session:
            task = session.get(Task, decision.victim_task_id)
            if task is None or task.status not in (S.RUNNING.value, S.SUBMITTED.value):
                return False
            if not transition(session, task.id, S(task.status), S.PREEMPTING, attempt=task.attempts,
                              reason=decision.reason, actor="scheduler",
                              audit_params={"preemptor_task_id": decision.preemptor_task_id}):
                return False
            session.add(Preemption(ts=now(), victim_task_id=task.id, victim_attempt=task.attempts,
                                   preemptor_task_id=decision.preemptor_task_id, reason=decision.reason))
            log.info("task %s attempt %s: preempting for task %s: %s", task.id, task.attempts,
                     decision.preemptor_task_id, decision.reason)
            return True

    def _set_reasons(self, reasons: dict[int, str]) -> None:
        """Why each waiting task waits: one transaction for all of them (one per task cost ~1.5 ms
        of CPU each, most of a tick with hundreds queued), a row written only where it changed."""
        if not reasons:
            return
        tasks = Task.__table__
        changed = (update(tasks).where(tasks.c.id == bindparam("task_id"), tasks.c.status == S.QUEUED.value,
                                       tasks.c.reason != bindparam("why"))
                   .values(reason=bindparam("why")))
        with self.db.write() as session:
            session.execute(changed, [{"task_id": i, "why": why} for i, why in reasons.items()])

    def admit(self, cluster: RayCluster, epoch: int | None, decision: Admit) -> bool:
        if self._waiting(decision.task_id):
            return False
        claimed = self.claim(decision, cluster.address, epoch)
        if claimed is not None:
            self.submit(cluster, *claimed)
        return claimed is not None

    def claim(self, decision: Admit, address: str, epoch: int | None):  # noqa: ANN201
        """Build the job outside any write transaction (paths, hydra, interpreter checks can take
        a second on a cold tree), then claim the row in a short one, guarded by what was read."""
        built = self._build(decision)
        if built is None:
            return None
        task_id, number, request = built
        with self.db.write() as session:
            # the row, locked; one another transaction holds (a cancel) is skipped this tick
            task = session.scalars(select(Task).where(Task.id == task_id)
                                   .with_for_update(skip_locked=True)).first()
            if task is None or task.status != S.QUEUED.value or task.attempts != number - 1:
                return None
            sid = request.submission_id
            if not transition(session, task.id, S.QUEUED, S.SUBMITTING, attempt=number,
                              reason=f"admitted on {len(decision.placement)} node(s)"
                                     + (" on borrowed quota" if decision.borrowed else ""),
                              attempts=number, argv=request.argv):
                return None
            session.add(Attempt(task_id=task.id, number=number, submission_id=sid,
                                status=S.SUBMITTING.value, placement=list(decision.placement),
                                ray_address=address, cluster_epoch=epoch, created_at=now()))
            log.info("task %s attempt %s: claimed as %s", task.id, number, sid)
            return task.id, number, sid, request

    def _build(self, decision: Admit):  # noqa: ANN202
        """(task id, attempt number, job request) for a QUEUED task, or None; a task whose job
        cannot be built is failed (or, for a shared-filesystem hiccup, left to retry)."""
        with self.db.read() as session:
            task = session.get(Task, decision.task_id)
            if task is None or task.status != S.QUEUED.value:
                return None
            number = task.attempts + 1
            try:
                spec = load_spec_data(task.spec, source=f"task {task.id}")
                refused = self.preparer.path_issues(spec, task.owner, task.team)
                if refused:
                    raise PathsRefused(refused)
                request = self.preparer.compile(spec, task_id=task.id, attempt=number,
                                                checkpoint_dir=task.checkpoint_dir, argv=task.argv,
                                                job_prefix=self.job_prefix)
                request = secrets.with_job_env(session, self.settings, request, task.owner,
                                               self.job_prefix, task.id, spec.env)
                request = pin_driver(request, decision.placement, self.names)
            except (CompileError, SpecError, ValueError, ArgusError, OSError) as exc:
                failed = exc
            else:
                return task.id, number, request
        with self.db.write() as session:
            self._build_failed(session, decision.task_id, S.QUEUED, None, failed)
        return None

    def submit(self, cluster: RayCluster, task_id: int, number: int, sid: str, request) -> None:  # noqa: ANN001
        try:
            cluster.submit(request)
        except JobAlreadyExists:
            pass
        except JobRejected as exc:  # permanent: Ray refused this job (4xx)
            self._end_submitting(task_id, number, sid, Termination.REJECTED,
                                 f"Ray rejected the job: {exc.message}")
            return
        except RayError as exc:  # transient: unreachable, a timeout, a 5xx: keep SUBMITTING, retry later
            self._transient(task_id, S.SUBMITTING, f"Ray did not take the job ({exc.message})")
            return
        self._backoff.pop(task_id, None)
        with self.db.write() as session:
            if transition(session, task_id, S.SUBMITTING, S.SUBMITTED, attempt=number,
                          reason=f"submitted to Ray as {sid}"):
                session.execute(update(Attempt).where(Attempt.submission_id == sid)
                                .values(status=S.SUBMITTED.value, submitted_at=now()))

    def retry_submitting(self, cluster: RayCluster, epoch: int | None, jobs: dict[str, JobState]) -> None:
        """Attempts left SUBMITTING (a crash, Ray briefly down): found in Ray's job list, or
        submitted again. One bad task never stops the others."""
        for live in load_live(self.db, frozenset({S.SUBMITTING})):
            try:
                self._retry_one(cluster, epoch, jobs, live)
            except Exception:  # noqa: BLE001 - one bad task must not stop the tick
                log.exception("task %s attempt %s: retrying the submission failed", live.task_id, live.number)

    def _retry_one(self, cluster: RayCluster, epoch: int | None, jobs: dict[str, JobState], live) -> None:  # noqa: ANN001
        if epoch is not None and live.epoch is not None and live.epoch != epoch:
            self._lost_submitting(live)
            return
        if live.submission_id in jobs:
            self._mark_submitted(live.task_id, live.number, live.submission_id)
            return
        if self._waiting(live.task_id):
            return
        try:
            with self.db.read() as session:
                task = session.get(Task, live.task_id)
                spec = load_spec_data(task.spec, source=f"task {task.id}")
                refused = self.preparer.path_issues(spec, task.owner, task.team)
                if refused:
                    raise PathsRefused(refused)
                request = self.preparer.compile(spec, task_id=task.id, attempt=live.number,
                                                checkpoint_dir=task.checkpoint_dir, argv=task.argv)
                request = secrets.with_job_env(session, self.settings, request, task.owner,
                                               self.job_prefix, task.id, spec.env)
                placement = session.get(Attempt, live.attempt_id).placement or []
                request = pin_driver(request, placement, self.names)
        except (CompileError, SpecError, ValueError, ArgusError, OSError) as exc:
            with self.db.write() as session:
                self._build_failed(session, live.task_id, S.SUBMITTING, live.number, exc)
            return
        # the id the claim stored (an attempt claimed before 0004 has no installation part)
        request = dataclasses.replace(request, submission_id=live.submission_id)
        self.submit(cluster, live.task_id, live.number, live.submission_id, request)

    def _waiting(self, task_id: int) -> bool:
        """Whether a task is backing off after a transient error."""
        entry = self._backoff.get(task_id)
        return entry is not None and now() < entry[1]

    def _transient(self, task_id: int, status: TaskStatus, what: str, session=None) -> None:  # noqa: ANN001
        """Keep the task where it is, say why, and back off before the next try."""
        failures = self._backoff.get(task_id, (0, 0.0))[0] + 1
        wait = backoff_s(failures, self.settings.transient_backoff_max_s)
        self._backoff[task_id] = (failures, now() + wait)
        reason = f"{what}; transient, retry {failures + 1} in {wait:.0f} s"[:1000]
        log.warning("task %s: %s", task_id, reason)
        values = update(Task).where(Task.id == task_id, Task.status == status.value).values(reason=reason)
        if session is not None:
            session.execute(values)
            return
        with self.db.write() as own:
            own.execute(values)

    def _build_failed(self, session, task_id: int, status: TaskStatus, number: int | None,  # noqa: ANN001
                      exc: Exception) -> None:
        """Building the job failed: a shared-filesystem hiccup waits and retries, the rest is FAILED."""
        text = getattr(exc, "message", None) or str(exc)
        if build_error_is_transient(exc, self.preparer.shared_root.is_dir()):
            self._transient(task_id, status, f"shared filesystem error while building the job: {text}", session)
            return
        self._backoff.pop(task_id, None)
        if transition(session, task_id, status, S.FAILED, attempt=number, termination=Termination.COMPILE_ERROR.value,
                      reason=f"cannot build the Ray job: {text}"[:1000]) and number is not None:
            session.execute(update(Attempt).where(Attempt.task_id == task_id, Attempt.number == number)
                            .values(status=S.FAILED.value, message=text[:500], ended_at=now(),
                                    termination=Termination.COMPILE_ERROR.value))

    def _end_submitting(self, task_id: int, number: int, sid: str, why: Termination, reason: str) -> None:
        self._backoff.pop(task_id, None)
        with self.db.write() as session:
            if transition(session, task_id, S.SUBMITTING, S.FAILED, attempt=number, termination=why.value,
                          reason=reason[:1000]):
                session.execute(update(Attempt).where(Attempt.submission_id == sid)
                                .values(status=S.FAILED.value, message=reason[:500], ended_at=now(),
                                        termination=why.value))

    def _mark_submitted(self, task_id: int, number: int, sid: str) -> None:
        with self.db.write() as session:
            if transition(session, task_id, S.SUBMITTING, S.SUBMITTED, attempt=number,
                          reason=f"found in Ray as {sid}"):
                session.execute(update(Attempt).where(Attempt.submission_id == sid)
                                .values(status=S.SUBMITTED.value, submitted_at=now()))

    def _lost_submitting(self, live) -> None:  # noqa: ANN001
        with self.db.write() as session:
            if transition(session, live.task_id, S.SUBMITTING, S.LOST, attempt=live.number,
                          reason="the head changed before the job was confirmed"):
                update_attempt(session, live.attempt_id, status=S.LOST.value, ended_at=now())
                status = S.QUEUED if live.attempts < live.max_attempts else S.FAILED
                transition(session, live.task_id, S.LOST, status, attempt=live.number,
                           reason="requeued after the head changed" if status is S.QUEUED
                           else "lost with no attempts left")
