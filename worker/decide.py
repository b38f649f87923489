"""The worker agent's decision core: (published head, joined head, child alive) -> action.

Pure: no files, no Ray, no clock. The agent loop reads the record, probes the dashboard and
passes everything in; the tests drive it with plain values.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from argus.headrecord import HeadRecord


class Action(str, enum.Enum):
    NOOP = "noop"  # joined to the published head and the raylet runs
    JOIN = "join"  # no child: start `ray start --address … --block`
    REJOIN = "leave-and-rejoin"  # stop our child group, then join the published head
    LEAVE = "leave"  # stop our child group and stay out (withdrawn head, quarantine)
    WAIT = "wait"  # nothing usable yet, or backing off


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str


def decide(published: HeadRecord | None, joined: HeadRecord | None, child_alive: bool,
           now: float, *, backoff_until: float = 0.0, quarantined: bool = False,
           probed_ok: bool = True, quarantine_reason: str = "", drain_until: float = 0.0) -> Decision:
    """What to do now.

    ``published``: the best record the follower holds (never a lower epoch than seen before).
    ``joined``: the record our running (or last) child was started for.
    ``probed_ok``: whether the published head's dashboard answered with the record's session.
    ``drain_until``: a quarantine (an Xid) keeps the raylet until then, so the server can stop the
    tasks on this node with their grace and requeue them; then the node leaves.
    """
    if quarantined:
        why = quarantine_reason or "quarantined by the operator"
        if child_alive and now < drain_until:
            return Decision(Action.NOOP, f"draining ({why}); leaving in {drain_until - now:.0f}s")
        if child_alive:
            return Decision(Action.LEAVE, why)
        return Decision(Action.WAIT, f"quarantined ({why}): `argus node release` or remove the flag "
                                     "file to let this node back in")
    if published is None:
        if child_alive:
            return Decision(Action.NOOP, "no record yet; keep the raylet we have")
        return Decision(Action.WAIT, "no head record published yet")
    if published.withdrawn:
        if child_alive:
            return Decision(Action.LEAVE, f"head epoch {published.epoch} withdrew")
        return Decision(Action.WAIT, f"head epoch {published.epoch} withdrew; waiting for a new one")
    same = joined is not None and joined.identity() == published.identity()
    if not published.live(now):
        if child_alive:
            return Decision(Action.NOOP, "lease expired; keep the raylet, it may reconnect")
        return Decision(Action.WAIT, f"head epoch {published.epoch}: lease expired")
    if same and child_alive:
        return Decision(Action.NOOP, f"joined epoch {published.epoch}")
    if not probed_ok:
        return Decision(Action.WAIT, f"head epoch {published.epoch} does not answer yet")
    if not same:
        why = _change(joined, published)
        return Decision(Action.REJOIN if child_alive else Action.JOIN, why)
    if now < backoff_until:
        return Decision(Action.WAIT, f"raylet died; backing off {backoff_until - now:.1f}s")
    return Decision(Action.JOIN, f"raylet died; rejoining epoch {published.epoch}")


def _change(joined: HeadRecord | None, published: HeadRecord) -> str:
    if joined is None:
        return f"joining head epoch {published.epoch} at {published.gcs_address}"
    if joined.epoch != published.epoch:
        return f"new head: epoch {joined.epoch} -> {published.epoch}"
    if joined.session_name != published.session_name:
        return f"head restarted: session {joined.session_name} -> {published.session_name}"
    return f"head moved: {joined.gcs_address} -> {published.gcs_address}"


def backoff_seconds(failures: int, *, base: float = 1.0, cap: float = 30.0,
                    rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter in [base/2, min(cap, base * 2**failures)]."""
    top = min(cap, base * (2 ** max(0, failures)))
    return (rng or random).uniform(base / 2, max(base / 2, top))
