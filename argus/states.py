"""The task state machine: the status enum, the allowed transitions and terminal helpers.

Nothing else decides whether a status change is legal; :mod:`argus.db.store` applies a
transition as one compare-and-set UPDATE plus an event row.
"""

from __future__ import annotations

import enum


class TaskStatus(str, enum.Enum):
    QUEUED = "QUEUED"
    SUBMITTING = "SUBMITTING"
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    PREEMPTING = "PREEMPTING"
    CANCELLING = "CANCELLING"
    LOST = "LOST"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    def is_terminal(self) -> bool:
        return self in TERMINAL

    def __str__(self) -> str:
        return self.value


S = TaskStatus

TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    S.QUEUED: frozenset({S.SUBMITTING, S.CANCELLED, S.FAILED}),
    S.SUBMITTING: frozenset({S.SUBMITTED, S.QUEUED, S.FAILED, S.CANCELLING, S.LOST}),
    S.SUBMITTED: frozenset(
        {S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELLING, S.LOST, S.PREEMPTING}
    ),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLING, S.LOST, S.PREEMPTING}),
    S.PREEMPTING: frozenset({S.QUEUED, S.SUCCEEDED, S.FAILED, S.CANCELLING, S.LOST}),
    S.CANCELLING: frozenset({S.CANCELLED, S.SUCCEEDED, S.FAILED}),
    S.LOST: frozenset({S.QUEUED, S.FAILED, S.CANCELLED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}

TERMINAL = frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED})

# Statuses in which an attempt may hold cluster resources (counted by the planner).
ACTIVE = frozenset({S.SUBMITTING, S.SUBMITTED, S.RUNNING, S.PREEMPTING, S.CANCELLING})

# Statuses the reconciler follows in Ray.
FOLLOWED = frozenset({S.SUBMITTED, S.RUNNING, S.PREEMPTING, S.CANCELLING})


def can_transition(src: TaskStatus, dst: TaskStatus) -> bool:
    return dst in TRANSITIONS[src]


def is_terminal(status: TaskStatus | str) -> bool:
    return TaskStatus(status) in TERMINAL


def mermaid() -> str:
    """The lifecycle as a Mermaid state diagram (docs/lifecycle.md is checked against it)."""
    lines = ["stateDiagram-v2", "    [*] --> QUEUED"]
    for src, dsts in TRANSITIONS.items():
        for dst in sorted(dsts, key=lambda s: list(TaskStatus).index(s)):
            lines.append(f"    {src.value} --> {dst.value}")
    for term in sorted(TERMINAL, key=lambda s: list(TaskStatus).index(s)):
        lines.append(f"    {term.value} --> [*]")
    return "\n".join(lines)


if __name__ == "__main__":
    print(mermaid())
