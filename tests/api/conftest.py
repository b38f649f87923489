"""API tests: a real SQLite file, real HTTP (uvicorn in a thread), Ray faked at its boundary.

``world`` holds two teams and one user per role, each with a token, and a workspace for
each user under ``<shared root>/users/<name>/code``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from argus.authz import Principal
from argus.cluster import ClusterRef
from argus.db.engine import Database
from argus.db.migrate import upgrade
from argus.services import identity
from argus.settings import Settings
from tests.conftest import ServerThread

ADMIN = Principal("root", "admin", None, "bootstrap")
# name -> (team, role)
PEOPLE = {
    "tadmin": ("red", "team-admin"),
    "alice": ("red", "user"),
    "bob": ("red", "user"),
    "vera": ("red", "viewer"),
    "carol": ("blue", "user"),
    "audrey": (None, "auditor"),
}


class FakeCluster:
    """A ClusterProvider with no Ray behind it: API tests never reach Ray."""

    def current(self) -> ClusterRef:
        return ClusterRef(None, why_not="no Ray in API tests")


@dataclass
class World:
    settings: Settings
    db: Database
    url: str
    tokens: dict[str, str] = field(default_factory=dict)
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def client(self, name: str) -> httpx.Client:
        if name not in self.clients:
            headers = {"Authorization": f"Bearer {self.tokens[name]}"} if name in self.tokens else {}
            self.clients[name] = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        return self.clients[name]

    def workspace(self, name: str) -> Path:
        return self.settings.shared_root / "users" / name / "code"

    def spec(self, owner: str, **extra) -> dict:  # noqa: ANN003
        spec = {"kind": "custom", "name": f"t-{owner}", "code": str(self.workspace(owner)),
                "command": ["python", "train.py"], "resources": {"nodes": 1, "cpus": 1}}
        return {**spec, **extra}


def build_world(root: Path) -> tuple[Settings, Database, dict[str, str]]:
    settings = Settings(state_dir=root / "state", shared_root=root / "shared", tick_seconds=0.2)
    db = Database(settings.database_url)
    upgrade(db)
    tokens = {"root": identity.bootstrap_admin(db, "root")["token"]}
    for team in ("red", "blue"):
        identity.create_team(db, ADMIN, team)
    for name, (team, role) in PEOPLE.items():
        identity.create_user(db, ADMIN, name, team=team, role=role)
        tokens[name] = identity.create_token(db, ADMIN, name, name="main")["token"]
    for name in ("root", *PEOPLE):
        (settings.shared_root / "users" / name / "code").mkdir(parents=True)
    return settings, db, tokens


def serve(root: Path) -> Iterator[World]:
    settings, db, tokens = build_world(root)
    app = create_app(settings, provider=FakeCluster(), db=db, embed_scheduler=False)
    with ServerThread(app) as server:
        world = World(settings, db, server.url, tokens)
        yield world
        for client in world.clients.values():
            client.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from serve(tmp_path)


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory) -> Iterator[World]:  # noqa: ANN001
    yield from serve(tmp_path_factory.mktemp("world"))
