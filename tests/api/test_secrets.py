"""Users' secrets through the real API: stored encrypted, never shown back, audited by name only,
injected into the owner's job environment, redacted from served logs."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

from cryptography.fernet import Fernet
from sqlalchemy import select, update

from argus.db.models import Attempt, Task, UserSecret
from argus.services import secrets

KEY = "wandb-0123456789abcdef0123456789abcdef"


def test_set_list_replace_delete_never_show_the_value(world):
    alice = world.client("alice")
    created = alice.put("/v1/secrets/WANDB_API_KEY", json={"value": KEY})
    assert created.status_code == 200, created.text
    assert created.json()["created"] is True and KEY not in created.text
    again = alice.put("/v1/secrets/WANDB_API_KEY", json={"value": KEY + "2"})
    assert again.json()["created"] is False
    listed = alice.get("/v1/secrets")
    assert [s["name"] for s in listed.json()["items"]] == ["WANDB_API_KEY"] and KEY not in listed.text
    # another user sees none of alice's
    assert world.client("bob").get("/v1/secrets").json()["items"] == []
    assert world.client("bob").get("/v1/secrets", params={"user": "alice"}).status_code == 403
    assert alice.delete("/v1/secrets/WANDB_API_KEY").json()["deleted"] is True
    assert alice.delete("/v1/secrets/WANDB_API_KEY").status_code == 404
    assert alice.get("/v1/secrets").json()["items"] == []


def test_encrypted_at_rest_and_not_in_the_audit_trail(world):
    assert world.client("alice").put("/v1/secrets/HF_TOKEN", json={"value": KEY}).is_success
    db_file = world.settings.state_dir / "argus.db"
    raw = b"".join(p.read_bytes() for p in db_file.parent.glob("argus.db*"))
    assert KEY.encode() not in raw
    with sqlite3.connect(db_file) as conn:
        rows = conn.execute("SELECT target, params FROM audit_log WHERE action='secret.write'").fetchall()
    assert rows and all(KEY not in (t + p) for t, p in rows)
    assert rows[-1][0] == "secret/alice/HF_TOKEN"
    key_file = world.settings.state_dir / "secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_bad_names_and_values_are_4xx(world):
    alice = world.client("alice")
    for name in ("lower", "1ABC", "ARGUS_TASK_ID", "RAY_ADDRESS", "PYTHONPATH", "WANDB_RUN_ID",
                 "LD_PRELOAD", "A" * 65):
        response = alice.put(f"/v1/secrets/{name}", json={"value": "x"})
        assert response.status_code in (400, 422), (name, response.status_code)
        assert response.json()["error"]["message"]
    assert alice.put("/v1/secrets/EMPTY", json={"value": ""}).status_code == 400
    assert alice.put("/v1/secrets/BIG", json={"value": "x" * 20000}).status_code == 422
    assert alice.put("/v1/secrets/NUL", json={"value": "a\x00b"}).status_code == 400
    assert alice.put("/v1/secrets/EXTRA", json={"value": "v", "other": 1}).status_code == 422
    assert alice.get("/v1/secrets").json()["items"] == []


def test_job_env_injects_secrets_and_a_stable_run(world):
    assert world.client("alice").put("/v1/secrets/WANDB_API_KEY", json={"value": KEY}).is_success
    with world.db.read() as session:
        env = secrets.job_env(session, world.settings, "alice", "argus-x-7", {})
        other = secrets.job_env(session, world.settings, "bob", "argus-x-8", {"WANDB_MODE": "disabled"})
        sealed = session.scalar(select(UserSecret.sealed).where(UserSecret.user == "alice"))
    assert env == {"WANDB_API_KEY": KEY, "WANDB_RUN_ID": "argus-x-7", "WANDB_RESUME": "allow"}
    assert other == {"WANDB_RUN_ID": "argus-x-8", "WANDB_RESUME": "allow"}  # the task chose its mode
    with world.db.read() as session:
        assert secrets.job_env(session, world.settings, "bob", "r", {})["WANDB_MODE"] == "offline"
    assert KEY not in sealed
    assert secrets.redact_text(f"key={KEY} done", [KEY]) == "key=[redacted] done"


def test_cli_secret_commands(world):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
    env.update(ARGUS_SERVER=world.url, ARGUS_TOKEN=world.tokens["alice"],
               ARGUS_CONFIG=str(world.settings.state_dir / "cfg.toml"))

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "argus.cli.main", *args], input=stdin, env=env,
                              capture_output=True, text=True, timeout=120)

    stored = cli("secret", "set", "WANDB_API_KEY", "--stdin", stdin=KEY + "\n")
    assert stored.returncode == 0, stored.stderr
    assert "stored" in stored.stdout and KEY not in stored.stdout
    listed = cli("secret", "list", "--output", "json")
    assert listed.returncode == 0 and '"WANDB_API_KEY"' in listed.stdout and KEY not in listed.stdout
    bad = cli("secret", "set", "ray_thing", "--stdin", stdin="v")
    assert bad.returncode == 1 and "not a secret name" in bad.stderr
    assert cli("secret", "rm", "WANDB_API_KEY").returncode == 0
    assert cli("secret", "rm", "WANDB_API_KEY").returncode == 1


def test_dry_run_names_the_secrets_without_values_and_logs_are_redacted(world):
    alice = world.client("alice")
    assert alice.put("/v1/secrets/WANDB_API_KEY", json={"value": KEY}).is_success
    dry = alice.post("/v1/tasks", params={"dry_run": "true"}, json=world.spec("alice"))
    assert dry.status_code == 201, dry.text
    env = dry.json()["runtime_env"]["env_vars"]
    assert env["WANDB_API_KEY"] == "[redacted]" and env["WANDB_RESUME"] == "allow"
    assert "WANDB_MODE" not in env and KEY not in dry.text
    bob_env = world.client("bob").post("/v1/tasks", params={"dry_run": "true"},
                                       json=world.spec("bob")).json()["runtime_env"]["env_vars"]
    assert bob_env["WANDB_MODE"] == "offline" and "WANDB_API_KEY" not in bob_env
    # a log that printed the key is served redacted
    task = alice.post("/v1/tasks", json=world.spec("alice")).json()
    with world.db.write() as session:
        session.add(Attempt(task_id=task["id"], number=1, submission_id="argus-t-1-1",
                            status="SUCCEEDED", created_at=0.0))
        session.execute(update(Task).where(Task.id == task["id"]).values(attempts=1))
    world.settings.log_dir.mkdir(parents=True, exist_ok=True)
    (world.settings.log_dir / "argus-t-1-1.log").write_text(f"wandb: key {KEY} ok\n")
    logs = alice.get(f"/v1/tasks/{task['id']}/logs")
    assert logs.status_code == 200 and KEY not in logs.text and "key [redacted] ok" in logs.text


def test_a_secret_the_key_cannot_open_is_left_out_not_fatal(world):
    assert world.client("alice").put("/v1/secrets/WANDB_API_KEY", json={"value": KEY}).is_success
    other = world.settings.model_copy(update={"secret_key": Fernet.generate_key().decode()})
    with world.db.read() as session:
        env = secrets.job_env(session, other, "alice", "r", {})
    assert "WANDB_API_KEY" not in env and env["WANDB_MODE"] == "offline"
