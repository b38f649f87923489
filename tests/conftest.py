"""Shared fixtures: settings in a temp dir, a fake Ray for API tests, a real Ray for integration."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from argus.raynode import free_port
from argus.settings import Settings
from tests.pgserver import PgServer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", shared_root=tmp_path / "shared",
                    tick_seconds=0.2, stop_wait_seconds=10)


@pytest.fixture
def db(tmp_path: Path):  # noqa: ANN201
    """A migrated SQLite database of its own, disposed after the test."""
    from argus.db.engine import Database
    from argus.db.migrate import upgrade

    database = Database(f"sqlite:///{tmp_path / 'argus.db'}")
    upgrade(database)
    yield database
    database.dispose()


def admin_app(settings: Settings, provider, **kwargs):  # noqa: ANN001, ANN201
    """An app on a migrated database with its first admin (what `argus admin init` does):
    (app, the admin's token)."""
    from api.app import create_app
    from argus.db.engine import Database
    from argus.db.migrate import upgrade
    from argus.services.identity import bootstrap_admin

    db = Database(settings.database_url)
    upgrade(db)
    token = bootstrap_admin(db, "admin")["token"]
    return create_app(settings, provider=provider, db=db, **kwargs), token


def until(check, timeout: float = 20.0, what: str = "the condition", every: float = 0.1):  # noqa: ANN001, ANN201
    """``check()``'s first truthy value within ``timeout`` seconds (polled every ``every``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class ServerThread:
    """A real uvicorn server on a free loopback port, in a thread of the test process."""

    def __init__(self, app):  # noqa: ANN001
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False, proxy_headers=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        if not self.server.started:
            raise RuntimeError("the API server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="session")
def local_ray():
    """Head + two workers (2 CPUs and 4 logical H100 GPUs each)."""
    if os.environ.get("ARGUS_SKIP_RAY"):
        pytest.skip("ARGUS_SKIP_RAY is set")
    from tests.localray import start_local_ray

    cluster = start_local_ray([{"cpus": 2, "gpus": 4, "model": "H100"},
                               {"cpus": 2, "gpus": 4, "model": "H100"}])
    yield cluster
    cluster.stop()
    shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():  # noqa: ANN201
    """A real PostgreSQL server for the session (tests/pgserver.py); never skipped."""
    server = PgServer().start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres) -> str:  # noqa: ANN001
    """A fresh database on that server."""
    return postgres.create_database()
