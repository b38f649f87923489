"""argus cp / ls / rm / key / team storage: the real CLI process against a real server."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from api.app import create_app
from argus.cli.transfer import upload_file
from argus.client import ArgusClient
from tests.api.conftest import FakeCluster, World, build_world
from tests.conftest import ServerThread

ARGUS = [sys.executable, "-m", "argus.cli.main"]


def run(world: World, who: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
    env.update(ARGUS_SERVER=world.url, ARGUS_TOKEN=world.tokens[who],
               ARGUS_CONFIG=str(world.settings.state_dir / "none.toml"))
    return subprocess.run([*ARGUS, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_cp_ls_rm_round_trip(world: World, tmp_path: Path):
    src = tmp_path / "proj"
    (src / "sub").mkdir(parents=True)
    (src / "train.py").write_text("print('hi')\n")
    big = os.urandom(9 << 20)  # more than one 8 MiB chunk
    (src / "sub" / "weights.bin").write_bytes(big)
    up = run(world, "alice", "cp", "-r", str(src), "argus:/code/")
    assert up.returncode == 0, up.stderr
    assert f"sha256 {hashlib.sha256(big).hexdigest()}" in up.stdout
    ws = world.settings.shared_root / "users" / "alice"
    assert (ws / "code" / "proj" / "sub" / "weights.bin").read_bytes() == big
    listed = run(world, "alice", "ls", "argus:/code/proj")
    assert listed.returncode == 0 and "train.py" in listed.stdout and "sub/" in listed.stdout
    out = tmp_path / "back"
    down = run(world, "alice", "cp", "-r", "argus:/code/proj", str(out))
    assert down.returncode == 0, down.stderr
    assert (out / "sub" / "weights.bin").read_bytes() == big
    one = run(world, "alice", "cp", str(src / "train.py"), "argus:/team/t.py")
    assert one.returncode == 0 and (world.settings.shared_root / "teams/red/t.py").exists()
    gone = run(world, "alice", "rm", "-r", "argus:/code/proj")
    assert gone.returncode == 0 and not (ws / "code" / "proj").exists()
    bad = run(world, "alice", "cp", "argus:/../bob/x", str(tmp_path))
    assert bad.returncode == 1 and "contains '..'" in bad.stderr
    mixed = run(world, "alice", "cp", str(src), str(tmp_path / "x"))
    assert mixed.returncode == 2 and "argus:" in mixed.stderr


def test_keys_and_team_storage(world: World, tmp_path: Path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@laptop",
                    "-f", str(tmp_path / "id")], check=True)
    added = run(world, "alice", "key", "add", str(tmp_path / "id.pub"))
    assert added.returncode == 0, added.stderr
    fp = subprocess.run(["ssh-keygen", "-l", "-f", str(tmp_path / "id.pub")], capture_output=True,
                        text=True, check=True).stdout.split()[1]
    assert f"key alice added: ssh-ed25519 {fp}" in added.stdout
    again = run(world, "bob", "key", "add", str(tmp_path / "id.pub"))
    assert again.returncode == 1 and "already registered by another user" in again.stderr
    private = run(world, "alice", "key", "add", str(tmp_path / "id"))
    assert private.returncode == 1 and "PRIVATE key" in private.stderr
    assert fp in run(world, "alice", "key", "list").stdout
    assert fp not in run(world, "bob", "key", "list").stdout
    assert run(world, "alice", "key", "remove", "alice").returncode == 0
    assert fp not in run(world, "alice", "key", "list").stdout
    setq = run(world, "root", "team", "storage", "red", "--quota", "10MiB")
    assert setq.returncode == 0 and "of 10.0 MiB" in setq.stdout, setq.stderr
    denied = run(world, "alice", "team", "storage", "red", "--quota", "1T")
    assert denied.returncode == 1 and "may not team.storage" in denied.stderr
    shown = run(world, "alice", "team", "show", "red")
    assert "storage: " in shown.stdout and "of 10.0 MiB used" in shown.stdout
    badsize = run(world, "root", "team", "storage", "red", "--quota", "lots")
    assert badsize.returncode == 2 and "not a size" in badsize.stderr


def test_argus_cp_resumes_across_a_server_restart(tmp_path: Path):
    """The server goes away mid-upload and comes back on the same port: the copy carries on
    from the bytes the server holds and ends with the whole file, sha256 checked."""
    settings, db, tokens = build_world(tmp_path)
    data = os.urandom(24 << 20)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    part_dir = settings.shared_root / "users" / "alice" / ".argus" / "uploads"
    first = ServerThread(create_app(settings, provider=FakeCluster(), db=db, embed_scheduler=False))
    port = first.port
    outcome: dict = {}
    with first:
        client = ArgusClient(first.url, token=tokens["alice"])
        copier = threading.Thread(target=lambda: outcome.update(
            result=upload_file(client, local, "/big.bin", chunk=256 << 10)))
        copier.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
                p.stat().st_size > (2 << 20) for p in part_dir.glob("*.part")):
            time.sleep(0.01)
    held = max(p.stat().st_size for p in part_dir.glob("*.part"))
    assert 0 < held < len(data) and copier.is_alive()  # cut off mid-upload
    second = ServerThread(create_app(settings, provider=FakeCluster(), db=db, embed_scheduler=False))
    second.server.config.port = port
    with second:
        copier.join(120)
    assert outcome["result"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert (settings.shared_root / "users" / "alice" / "big.bin").read_bytes() == data
