"""The worker agent's decision core, pure: (published head, joined head, child alive) → action.

No Ray, no files, no clock: the agent loop feeds it what it observed and carries out the answer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from argus.headrecord import HeadRecord


class Action(str, enum.Enum):
    NOOP = "noop"  # joined to the published head and the raylet lives
    JOIN = "join"  # no raylet: start one against the published head
    REJOIN = "leave-and-rejoin"  # joined to an old head: stop our own child group, join the new one
    WAIT = "wait"  # nothing valid to join yet (no record, expired lease, withdrawn, probe failed)


@dataclass(frozen=True)
class Joined:
    """What our current raylet was started against."""

    epoch: int
    session_name: str
    gcs_address: str


def same_head(record: HeadRecord, joined: Joined) -> bool:
    return (record.epoch, record.session_name, record.gcs_address) == (
        joined.epoch, joined.session_name, joined.gcs_address)


def decide(published: HeadRecord | None, joined: Joined | None, child_alive: bool,
           head_answers: bool = True) -> Action:
    """``published`` is the verified, live record (None if there is none); ``head_answers`` is the
    dashboard probe (version and session match) of that record."""
    if published is None or not head_answers:
        return Action.WAIT
    if not child_alive:
        return Action.JOIN
    if joined is None or not same_head(published, joined):
        return Action.REJOIN
    return Action.NOOP
