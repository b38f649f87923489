"""SFTP with the real OpenSSH client (``sftp -b``) against the real server on a loopback port."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from api.app import create_app
from argus.raynode import free_port
from argus.sftp.server import SftpServer
from tests.api.conftest import FakeCluster, World
from tests.conftest import ServerThread

pytestmark = pytest.mark.skipif(shutil.which("sftp") is None,
                                reason="the OpenSSH sftp client is missing (make installs it)")


def keypair(tmp: Path, name: str) -> Path:
    key = tmp / f"id_{name}"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@test",
                    "-f", str(key)], check=True)
    return key


def register(world: World, who: str, key: Path) -> None:
    got = world.client(who).post("/v1/keys", json={"public_key": key.with_suffix(".pub").read_text()})
    assert got.status_code == 201, got.text


def sftp(port: int, user: str, key: Path, commands: str, tmp: Path) -> subprocess.CompletedProcess:
    batch = tmp / f"batch-{time.monotonic_ns()}"
    batch.write_text(commands)
    return subprocess.run(
        ["sftp", "-b", str(batch), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
         "-i", str(key), "-P", str(port), f"{user}@127.0.0.1"],
        capture_output=True, text=True, timeout=60, cwd=tmp)


@pytest.fixture
def served(world: World, tmp_path: Path):  # noqa: ANN201
    server = SftpServer(world.settings, world.db).start()
    keys = {who: keypair(tmp_path, who) for who in ("alice", "bob", "carol", "vera")}
    for who, key in keys.items():
        register(world, who, key)
    yield server, keys
    server.stop()


def audit(world: World, action: str) -> list[dict]:
    rows = world.client("audrey").get("/v1/audit", params={"action": action}).text.splitlines()
    return [json.loads(r) for r in rows if r]


def test_put_get_rename_remove_with_the_real_client(world: World, served, tmp_path: Path):
    server, keys = served
    (tmp_path / "train.py").write_text("print('train')\n")
    (tmp_path / "big.bin").write_bytes(os.urandom(300_000))
    run = sftp(server.port, "alice", keys["alice"], "\n".join([
        "mkdir proj", "put train.py proj/train.py", "put big.bin proj/big.bin",
        "rename proj/big.bin proj/weights.bin", "put train.py /team/shared.py", "ls /team",
        "rm proj/train.py", "get proj/weights.bin back.bin", "cd ..", "ls", ""]), tmp_path)
    assert run.returncode == 0, run.stderr + run.stdout
    ws = world.settings.shared_root / "users" / "alice"
    assert (ws / "proj" / "weights.bin").read_bytes() == (tmp_path / "big.bin").read_bytes()
    assert (tmp_path / "back.bin").read_bytes() == (tmp_path / "big.bin").read_bytes()
    assert not (ws / "proj" / "train.py").exists()
    assert (world.settings.shared_root / "teams" / "red" / "shared.py").exists()
    assert stat.S_IMODE((ws / "proj" / "weights.bin").stat().st_mode) == 0o640
    writes = {(e["target"], e["params"]["bytes"]) for e in audit(world, "sftp.write")}
    assert ("file/alice/proj/big.bin", 300_000) in writes
    assert ("file/alice/team/shared.py", 15) in writes
    renames = audit(world, "sftp.rename")
    assert renames[0]["params"]["to"] == "/proj/weights.bin" and renames[0]["actor"] == "alice"
    assert [e["params"]["path"] for e in audit(world, "sftp.remove")] == ["/proj/train.py"]
    assert world.client("audrey").get("/v1/audit/verify").json()["ok"] is True
    # bob (same team) sees the team file; carol (team blue) does not, her /team is blue's.
    bob = sftp(server.port, "bob", keys["bob"], "get /team/shared.py bob.py\n", tmp_path)
    assert bob.returncode == 0 and (tmp_path / "bob.py").exists()
    carol = sftp(server.port, "carol", keys["carol"], "get /team/shared.py c.py\n", tmp_path)
    assert carol.returncode != 0 and not (tmp_path / "c.py").exists()


def test_nothing_outside_the_view_is_reachable(world: World, served, tmp_path: Path):
    server, keys = served
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "secret.txt").write_text("outside")
    ws = world.settings.shared_root / "users" / "alice"
    (ws / "out").symlink_to(secret)
    (ws / "peek.txt").symlink_to(secret / "secret.txt")
    (ws / "bobs").symlink_to(world.settings.shared_root / "users" / "bob")
    (tmp_path / "x.txt").write_text("x")
    attempts = ["get ../../../etc/passwd p1", "get /etc/passwd p2", f"get {secret}/secret.txt p3",
                "get out/secret.txt p4", "get peek.txt p5", "put x.txt out/x.txt",
                "put x.txt bobs/x.txt", "get /team/../../blue/x p6", "ln -s /etc/passwd link",
                "symlink /etc link2", "get ../bob/.bashrc p7"]
    for command in attempts:
        run = sftp(server.port, "alice", keys["alice"], command + "\n", tmp_path)
        assert run.returncode != 0, f"{command} should fail: {run.stdout}"
    assert not any((tmp_path / f"p{i}").exists() for i in range(1, 8))
    listed = sftp(server.port, "alice", keys["alice"], "ls out/\nls -l /\ncd ../..\npwd\n", tmp_path)
    assert "secret.txt" not in listed.stdout  # the link is shown as a link, never followed
    assert "Remote working directory: /\n" in listed.stdout
    assert not (secret / "x.txt").exists()
    assert not (world.settings.shared_root / "users" / "bob" / "x.txt").exists()
    assert not (ws / "link").exists() and not (ws / "link2").is_symlink()
    refused = {e["params"]["path"]: e["outcome"] for e in audit(world, "sftp.write")}
    assert refused.get("/out/x.txt") == "denied" and refused.get("/bobs/x.txt") == "denied"
    assert "ok" not in refused.values()


def test_quota_viewer_and_unknown_keys(world: World, served, tmp_path: Path):
    server, keys = served
    assert world.client("root").put("/v1/teams/red/storage",
                                    json={"quota_bytes": 100_000}).status_code == 200
    (tmp_path / "big.bin").write_bytes(os.urandom(150_000))
    over = sftp(server.port, "alice", keys["alice"], "put big.bin big.bin\n", tmp_path)
    assert over.returncode != 0
    ws = world.settings.shared_root / "users" / "alice"
    assert not (ws / "big.bin").exists() or (ws / "big.bin").stat().st_size <= 100_000
    failed = [e for e in audit(world, "sftp.write") if e["outcome"] != "ok"]
    assert failed and "storage quota" in failed[0]["params"]["refused"]
    vera = sftp(server.port, "vera", keys["vera"], "put big.bin v.bin\n", tmp_path)
    assert vera.returncode != 0 and not (ws.parent / "vera" / "v.bin").exists()
    assert audit(world, "sftp.write")[-1]["outcome"] == "denied"
    assert sftp(server.port, "vera", keys["vera"], "ls\n", tmp_path).returncode == 0
    stranger = keypair(tmp_path, "stranger")
    assert sftp(server.port, "alice", stranger, "ls\n", tmp_path).returncode == 255
    assert sftp(server.port, "bob", keys["alice"], "ls\n", tmp_path).returncode == 255  # alice's key
    logins = [(e["actor"], e["outcome"], e["source_ip"]) for e in audit(world, "sftp.login")]
    assert ("vera", "ok", "127.0.0.1") in logins and ("bob", "denied", "127.0.0.1") in logins
    assert ("alice", "denied", "127.0.0.1") in logins  # the stranger's key


def test_argus_server_serves_sftp_with_the_port_set(world: World, tmp_path: Path):
    settings = world.settings.model_copy(update={"sftp_port": free_port()})
    key = keypair(tmp_path, "alice")
    register(world, "alice", key)
    app = create_app(settings, provider=FakeCluster(), db=world.db, embed_scheduler=False)
    (tmp_path / "a.txt").write_text("a")
    with ServerThread(app):
        run = sftp(settings.sftp_port, "alice", key, "put a.txt a.txt\n", tmp_path)
    assert run.returncode == 0, run.stderr
    host_key = settings.state_dir / "sftp" / "ssh_host_ed25519_key"
    assert stat.S_IMODE(host_key.stat().st_mode) == 0o600


def test_argus_sftp_runs_alone_and_keeps_its_host_key(world: World, tmp_path: Path):
    key = keypair(tmp_path, "alice")
    register(world, "alice", key)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
    env.update(ARGUS_STATE_DIR=str(world.settings.state_dir),
               ARGUS_SHARED_ROOT=str(world.settings.shared_root))
    (tmp_path / "a.txt").write_text("a")
    fingerprints = []
    for _ in range(2):
        port = free_port()
        log = tmp_path / f"sftp-{port}.log"
        with log.open("w") as err:
            proc = subprocess.Popen([sys.executable, "-m", "argus.cli.main", "sftp", "--port",
                                     str(port)], env=env, stderr=err, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while "sftp listening" not in log.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.1)
            scan = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-p", str(port), "127.0.0.1"],
                                  capture_output=True, text=True, timeout=30)
            fingerprints.append(scan.stdout.split()[-1])
            run = sftp(port, "alice", key, "put a.txt alone.txt\n", tmp_path)
            assert run.returncode == 0, run.stderr
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            assert proc.wait(20) == 0
    assert fingerprints[0] == fingerprints[1]
    assert (world.settings.shared_root / "users" / "alice" / "alone.txt").read_text() == "a"
