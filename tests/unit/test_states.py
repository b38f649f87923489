from pathlib import Path

import pytest

from argus.states import TERMINAL, TRANSITIONS, TaskStatus, can_transition, is_terminal, mermaid

S = TaskStatus


def test_terminal_states_have_no_way_out():
    assert TERMINAL == {S.SUCCEEDED, S.FAILED, S.CANCELLED}
    for status in TERMINAL:
        assert TRANSITIONS[status] == frozenset()
        assert status.is_terminal() and is_terminal(status.value)


def test_every_status_has_a_row_and_every_live_status_can_end():
    assert set(TRANSITIONS) == set(TaskStatus)
    for status in set(TaskStatus) - TERMINAL:
        assert TRANSITIONS[status], status


@pytest.mark.parametrize("src,dst,ok", [
    (S.QUEUED, S.SUBMITTING, True),
    (S.QUEUED, S.RUNNING, False),
    (S.RUNNING, S.QUEUED, False),
    (S.PREEMPTING, S.QUEUED, True),
    (S.LOST, S.QUEUED, True),
    (S.SUCCEEDED, S.QUEUED, False),
    (S.CANCELLING, S.RUNNING, False),
])
def test_transition_table(src, dst, ok):
    assert can_transition(src, dst) is ok


def test_lifecycle_doc_matches_the_enum():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "lifecycle.md").read_text()
    assert mermaid() in doc, "docs/lifecycle.md is stale: regenerate with python -m argus.states"
