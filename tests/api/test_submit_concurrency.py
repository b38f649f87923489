"""Concurrent submits through a real HTTP server share group commits (argus/db/engine.py): every
answered submit is in the database once, a repeated Idempotency-Key still names one task even
when its two requests land in the same group, and the audit chain stays whole."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
from sqlalchemy import func, select

from argus.db.models import Event, Task
from argus.services import audit as audit_service

THREADS, EACH = 8, 6


def test_concurrent_submits_are_each_written_once_and_the_chain_holds(world):
    answers: list[tuple[str | None, int, int]] = []
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {world.tokens['alice']}"}

    def submit(i: int) -> None:
        with httpx.Client(base_url=world.url, headers=headers, timeout=30) as client:
            for j in range(EACH):
                # threads i and i+4 send the same keys: one task per key, whichever lands first
                key = f"k{i % 4}-{j}" if j % 2 == 0 else None
                extra = {"Idempotency-Key": key} if key else {}
                response = client.post("/v1/tasks", json=world.spec("alice", name=f"c-{i % 4}-{j}"
                                                                    if key else f"c-{i}-{j}"),
                                       headers=extra)
                with lock:
                    answers.append((key, response.status_code, response.json().get("id", -1)))

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == THREADS * EACH and {status for _, status, _ in answers} == {201}
    by_key: dict[str, set[int]] = {}
    for key, _, task_id in answers:
        if key:
            by_key.setdefault(key, set()).add(task_id)
    assert all(len(ids) == 1 for ids in by_key.values()), by_key  # one task per key
    ids = {task_id for _, _, task_id in answers}
    with world.db.read() as session:
        stored = set(session.scalars(select(Task.id)))
        created = Counter(session.scalars(select(Event.task_id).where(Event.reason == "submitted")))
        keys = session.scalar(select(func.count()).select_from(Task).where(Task.idempotency_key.is_not(None)))
    assert stored == ids and len(ids) == THREADS * EACH // 2 + len(by_key)
    assert set(created.values()) == {1} and set(created) == ids  # one creation event each
    assert keys == len(by_key) == 4 * (EACH // 2)
    verdict = audit_service.verify(world.db)
    assert verdict["ok"] and verdict["entries"] >= len(answers)
