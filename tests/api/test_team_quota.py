"""The team-admin's quota view: configured quota, open loans, GPUs in use, per flavor."""

from __future__ import annotations

import httpx

from api.app import create_app
from argus.db.models import QuotaLoan, Task
from tests.api.conftest import FakeCluster, build_world
from tests.conftest import ServerThread

TEAMS = {"red": {"quota": {"H100": {"nominal": 16, "borrowing_limit": 8, "lending_limit": 4}}},
         "blue": {"quota": {"H100": {"nominal": 8}}}}


def _running(session, task_id: int, team: str, gpus: float, model: str | None) -> None:  # noqa: ANN001
    session.add(Task(id=task_id, name=f"t{task_id}", kind="custom", priority="batch", team=team, owner="alice",
                     status="RUNNING", reason="", spec={}, spec_text="", checkpoint_dir="/x", nodes=2,
                     gpus_per_node=gpus, cpus_per_node=1, gpu_model=model, created_at=1.0, updated_at=1.0,
                     queued_at=1.0))


def test_team_view_shows_quota_loans_and_use(tmp_path):
    settings, db, tokens = build_world(tmp_path)
    settings = settings.model_copy(update={"teams": TEAMS})
    with db.write() as session:
        _running(session, 1, "red", 4, "H100")  # 2 nodes x 4 H100
        _running(session, 2, "red", 1, None)  # 2 nodes x 1 GPU of any model
        _running(session, 3, "blue", 8, "H100")
        session.add(QuotaLoan(ts=1.0, lender="red", borrower="blue", flavor="H100", amount=3, reason="gap"))
        session.add(QuotaLoan(ts=1.0, lender="red", borrower="blue", flavor="H100", amount=5, reason="old",
                              reverted_at=2.0))
    app = create_app(settings, provider=FakeCluster(), db=db, embed_scheduler=False)
    with ServerThread(app) as server:
        def get(who: str, team: str) -> httpx.Response:
            return httpx.get(f"{server.url}/v1/teams/{team}", headers={"Authorization": f"Bearer {tokens[who]}"})

        red = get("tadmin", "red")
        assert red.status_code == 200, red.text
        body = red.json()
        assert body["gpus_in_use"] == 10
        assert body["quota"] == [
            {"flavor": "*", "nominal": None, "lent": 0.0, "borrowed": 0.0, "effective": None,
             "borrowing_limit": None, "lending_limit": None, "in_use": 2.0},
            {"flavor": "H100", "nominal": 16, "lent": 3.0, "borrowed": 0.0, "effective": 13.0,
             "borrowing_limit": 8, "lending_limit": 4, "in_use": 8.0},
        ]
        blue = get("root", "blue").json()["quota"]
        assert blue == [{"flavor": "H100", "nominal": 8, "lent": 0.0, "borrowed": 3.0, "effective": 11.0,
                         "borrowing_limit": None, "lending_limit": None, "in_use": 16.0}]
        assert get("carol", "red").status_code == 403  # another team's quota view is not theirs
    db.dispose()
