"""argus cp / ls / rm / key / team storage: the real CLI process against a real server."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from tests.api.conftest import World

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
