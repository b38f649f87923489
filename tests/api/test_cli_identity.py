"""The identity and audit commands end to end: the real CLI process against a real server."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from api.app import create_app
from argus.db.engine import Database
from argus.settings import Settings
from tests.api.conftest import FakeCluster
from tests.conftest import ServerThread

ARGUS = [sys.executable, "-m", "argus.cli.main"]


class Cli:
    def __init__(self, tmp: Path, server: str | None = None):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
        self.env.update(ARGUS_STATE_DIR=str(tmp / "state"), ARGUS_CONFIG=str(tmp / "cfg.toml"),
                        ARGUS_SERVER=server or "")

    def __call__(self, *args: str, token: str | None = None) -> subprocess.CompletedProcess:
        env = {**self.env, **({"ARGUS_TOKEN": token} if token else {})}
        return subprocess.run([*ARGUS, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def setup(tmp_path):
    cli = Cli(tmp_path)
    init = cli("admin", "init", "root")
    assert init.returncode == 0, init.stderr
    root_token = init.stdout.strip().splitlines()[-1]
    again = cli("admin", "init", "other")
    assert again.returncode == 1 and "an admin already exists" in again.stderr
    settings = Settings(state_dir=tmp_path / "state", shared_root=tmp_path / "shared")
    app = create_app(settings, provider=FakeCluster(), embed_scheduler=False)
    with ServerThread(app) as server:
        cli.env["ARGUS_SERVER"] = server.url
        yield cli, root_token, settings


def test_bootstrap_users_tokens_and_whoami(setup):
    cli, root, _ = setup
    assert "root (role admin" in cli("whoami", token=root).stdout
    assert cli("team", "create", "red", token=root).returncode == 0
    made = cli("user", "create", "alice", "--team", "red", "--role", "user", token=root)
    assert made.returncode == 0, made.stderr
    created = cli("token", "create", "--user", "alice", "--name", "laptop", "--expires", "1d", token=root)
    alice = created.stdout.strip().splitlines()[-1]
    assert alice.startswith("argus_")
    assert "alice (role user, team red, token laptop)" in cli("whoami", token=alice).stdout
    assert cli("token", "revoke", "laptop", token=alice).returncode == 0
    refused = cli("whoami", token=alice)
    assert refused.returncode == 1 and "revoked" in refused.stderr
    no_token = cli("whoami")
    assert no_token.returncode == 1 and "needs an API token" in no_token.stderr


def test_config_file_must_be_private(setup, tmp_path):
    cli, root, _ = setup
    saved = cli("token", "create", "--name", "cfg", "--save", token=root)
    assert saved.returncode == 0, saved.stderr
    config = tmp_path / "cfg.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert "root (role admin" in cli("whoami").stdout
    config.chmod(0o644)
    refused = cli("whoami")
    assert refused.returncode == 1 and "chmod 600" in refused.stderr


def test_audit_verify_names_the_edited_entry(setup):
    cli, root, settings = setup
    for name in ("a", "b", "c"):
        cli("team", "create", name, token=root)
    assert cli("audit", "verify", token=root).returncode == 0
    export = cli("audit", "export", "--action", "team.create", "--format", "csv", token=root)
    assert export.stdout.count("team.create") == 3
    db = Database(settings.database_url)
    with db.write() as session:
        victim = session.execute(text("SELECT id FROM audit_log WHERE target = 'team/b'")).scalar()
        session.execute(text("DROP TRIGGER audit_log_no_update"))
        session.execute(text("UPDATE audit_log SET outcome = 'denied' WHERE id = :id"), {"id": victim})
    db.dispose()
    verify = cli("audit", "verify", token=root)
    assert verify.returncode == 1 and f"BROKEN at entry {victim} " in verify.stderr
    local = cli("audit", "verify", "--local")  # the database itself, no server, no token
    assert local.returncode == 1 and f"BROKEN at entry {victim} " in local.stderr
