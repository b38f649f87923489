"""An Argus server (API + embedded scheduler) wired to the real local Ray cluster."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from api.app import create_app
from argus.client import ArgusClient
from argus.cluster import StaticCluster
from argus.db.engine import Database
from argus.db.migrate import upgrade
from argus.services.identity import bootstrap_admin
from argus.settings import Settings
from argus.states import is_terminal
from tests.conftest import ServerThread

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def argus_env(local_ray, tmp_path_factory, verl_tree_dir):
    root = tmp_path_factory.mktemp("argus")
    trees = {"v0.9.1": {"path": str(verl_tree_dir), "python": sys.executable}} if verl_tree_dir else {}
    # The examples and the example verl task's /gpfs paths are registered shared paths.
    settings = Settings(state_dir=root / "state", shared_root=root / "shared", tick_seconds=0.3,
                        stop_wait_seconds=10, ray_address=local_ray.dashboard_url, verl_trees=trees,
                        shared_paths=[EXAMPLES, "/gpfs"])
    db = Database(settings.database_url)
    upgrade(db)
    token = bootstrap_admin(db, "admin")["token"]  # what `argus admin init admin` does
    app = create_app(settings, provider=StaticCluster(local_ray.dashboard_url), db=db)
    saved = os.environ.get("ARGUS_TOKEN")
    os.environ["ARGUS_TOKEN"] = token  # for the CLI processes the tests start
    with ServerThread(app) as server:
        client = ArgusClient(server.url, token=token)
        yield settings, server, client
        for task in client.list(limit=500)["items"]:
            if not is_terminal(task["status"]):
                client.cancel(task["id"])
        wait_all_terminal(client)
        client.close()
    if saved is None:
        os.environ.pop("ARGUS_TOKEN", None)
    else:
        os.environ["ARGUS_TOKEN"] = saved


def wait_all_terminal(client: ArgusClient, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(is_terminal(t["status"]) for t in client.list(limit=500)["items"]):
            return
        time.sleep(0.5)


def wait_for(client: ArgusClient, task_id: int, predicate, timeout: float = 120, what: str = ""):  # noqa: ANN001
    deadline = time.monotonic() + timeout
    task = client.get(task_id)
    while time.monotonic() < deadline:
        task = client.get(task_id)
        if predicate(task):
            return task
        time.sleep(0.3)
    raise AssertionError(f"task {task_id} never reached {what or predicate}: last {task}")


def wait_status(client: ArgusClient, task_id: int, *statuses: str, timeout: float = 120) -> dict:
    return wait_for(client, task_id, lambda t: t["status"] in statuses, timeout, "/".join(statuses))


@pytest.fixture(scope="module")
def verl_tree_dir():
    from tests.verl_fixture import verl_source_tree

    try:
        return verl_source_tree()
    except Exception:  # noqa: BLE001 - the verl-specific tests skip on their own
        return None

