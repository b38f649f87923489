"""Code travels with the task: argus submit of local code, snapshots, resubmit, the size cap."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

from argus.cli.carry import carry_code
from argus.client import ArgusClient
from argus.files import snapshot
from tests.api.conftest import World
from tests.verl_fixture import verl_tree_path  # noqa: F401 - the session fixture

ARGUS = [sys.executable, "-m", "argus.cli.main"]
TASK = """kind: custom
name: local-code
code: ./proj
command: [python, train.py]
resources: {nodes: 1, cpus: 1}
"""


def run(world: World, who: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARGUS_")}
    env.update(ARGUS_SERVER=world.url, ARGUS_TOKEN=world.tokens[who],
               ARGUS_CONFIG=str(cwd / "none.toml"))
    return subprocess.run([*ARGUS, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def project(root: Path) -> Path:
    proj = root / "proj"
    (proj / "data").mkdir(parents=True)
    (proj / "lib").mkdir()
    (proj / "train.py").write_text("print('training')\n")
    (proj / "run.sh").write_text("#!/bin/sh\n")
    (proj / "run.sh").chmod(0o755)
    (proj / "lib" / "util.py").write_text("X = 1\n")
    (proj / "lib" / "cache.pyc").write_bytes(b"\0")
    (proj / "data" / "big.jsonl").write_text("{}\n" * 1000)
    (proj / "debug.log").write_text("noise")
    (proj / "secret.env").write_text("TOKEN=x")
    (proj / ".gitignore").write_text("data/\n*.log\n")
    (proj / ".argusignore").write_text("secret.env\n")
    (proj / "lib" / ".gitignore").write_text("*.pyc\n")
    (proj / ".git").mkdir()
    (proj / ".git" / "HEAD").write_text("ref")
    (root / "task.yaml").write_text(TASK)
    return proj


def test_submit_uploads_local_code_as_a_snapshot_and_resubmit_reuses_it(world: World, tmp_path: Path):
    project(tmp_path)
    first = run(world, "alice", "submit", "task.yaml", "-o", "json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    task_id = json.loads(first.stdout)["id"]
    task = world.client("alice").get(f"/v1/tasks/{task_id}").json()
    digest = task["snapshots"]["code"]
    snap = world.settings.shared_root / "users" / "alice" / ".argus" / "snapshots" / digest
    files = sorted(p.relative_to(snap).as_posix() for p in snap.rglob("*") if p.is_file())
    assert files == [".argusignore", ".gitignore", "lib/.gitignore", "lib/util.py", "run.sh",
                     "train.py"]
    assert stat.S_IMODE((snap / "run.sh").stat().st_mode) == 0o555
    assert stat.S_IMODE((snap / "train.py").stat().st_mode) == 0o444
    assert stat.S_IMODE(snap.stat().st_mode) == 0o555
    shown = run(world, "alice", "status", str(task_id), cwd=tmp_path)
    assert f"code = sha256:{digest[:16]}" in shown.stdout
    # The same tree again: not uploaded twice, same snapshot.
    second = run(world, "alice", "submit", "task.yaml", cwd=tmp_path)
    assert "already there" in second.stderr and digest[:16] in second.stderr
    # A change makes a new snapshot; the old one is untouched.
    (tmp_path / "proj" / "train.py").write_text("print('v2')\n")
    third = run(world, "alice", "submit", "task.yaml", cwd=tmp_path)
    assert "uploaded" in third.stderr and digest[:16] not in third.stderr
    assert (snap / "train.py").read_text() == "print('training')\n"
    # resubmit runs the same snapshot.
    world.client("alice").post(f"/v1/tasks/{task_id}/cancel")
    again = world.client("alice").post(f"/v1/tasks/{task_id}/resubmit")
    assert again.status_code == 201, again.text
    assert again.json()["snapshots"] == {"code": digest}


def test_code_already_on_the_shared_filesystem_is_not_copied(world: World, tmp_path: Path):
    code = world.workspace("alice")
    (code / "train.py").write_text("print(1)\n")
    (tmp_path / "task.yaml").write_text(TASK.replace("./proj", str(code)))
    result = run(world, "alice", "submit", "task.yaml", "-o", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    task_id = json.loads(result.stdout)["id"]
    assert world.client("alice").get(f"/v1/tasks/{task_id}").json()["snapshots"] == {}
    assert not (world.settings.shared_root / "users" / "alice" / ".argus" / "snapshots").exists()


def test_the_size_cap_is_a_clear_error(world: World, tmp_path: Path):
    proj = project(tmp_path)
    (proj / "weights.bin").write_bytes(os.urandom(100_000))
    world.settings.snapshot_max_bytes = 65536
    result = run(world, "alice", "submit", "task.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "more than the 64.0 KiB a code snapshot may hold" in result.stderr
    assert "weights.bin" in result.stderr and ".argusignore" in result.stderr


def test_a_verl_reward_file_travels_too(world: World, tmp_path: Path):
    reward = tmp_path / "reward.py"
    reward.write_text("def compute_score(*a):\n    return 1.0\n")
    spec = {"kind": "verl", "verl": {"code": "v0.9.1", "reward": {"path": "reward.py"}}}
    client = ArgusClient(world.url, token=world.tokens["carol"])
    carried = carry_code(client, spec, [tmp_path], quiet=True)
    path = Path(carried["verl"]["reward"]["path"])
    assert path.name == "reward.py" and path.read_text() == reward.read_text()
    assert path.parent.parent == world.settings.shared_root.resolve() / "users/carol/.argus/snapshots"


def test_the_server_checks_what_it_unpacks(world: World):
    alice = world.client("alice")

    def tar_of(entries: list[tarfile.TarInfo], data: bytes = b"") -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for info in entries:
                tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
        return buffer.getvalue()

    good = tarfile.TarInfo("train.py")
    good.size = 3
    body = tar_of([good], b"abc")
    digest = snapshot.manifest_digest([("train.py", False, hashlib.sha256(b"abc").hexdigest())])
    lying = alice.put(f"/v1/snapshots/{'0' * 64}", content=body)
    assert lying.status_code == 400 and "hash to" in lying.json()["error"]["message"]
    link = tarfile.TarInfo("evil")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    assert alice.put(f"/v1/snapshots/{'1' * 64}", content=tar_of([link])).status_code == 400
    escape = tarfile.TarInfo("../../escape.py")
    escape.size = 3
    assert alice.put(f"/v1/snapshots/{'2' * 64}", content=tar_of([escape], b"abc")).status_code == 400
    assert not (world.settings.shared_root / "users" / "escape.py").exists()
    assert alice.put("/v1/snapshots/nothex", content=body).status_code == 400
    ok = alice.put(f"/v1/snapshots/{digest}", content=body)
    assert ok.status_code == 200 and ok.json()["files"] == 1
    assert alice.get(f"/v1/snapshots/{digest}").json()["sha256"] == digest
    assert world.client("carol").get(f"/v1/snapshots/{digest}").status_code == 404  # hers only
    tmp = world.settings.shared_root / "users" / "alice" / ".argus" / "tmp"
    assert [p.name for p in tmp.iterdir()] == []  # nothing half-written left behind


def test_a_local_verl_tree_and_reward_travel_and_the_dry_run_uses_them(world: World, tmp_path: Path,
                                                                         verl_tree_path: Path):
    shutil.copytree(verl_tree_path, tmp_path / "verl")
    world.settings.verl_default_python = sys.executable  # a tree given by path runs with it
    (tmp_path / "reward.py").write_text("def compute_score(*a, **k):\n    return 1.0\n")
    ws = world.workspace("alice")
    (tmp_path / "task.yaml").write_text(f"""kind: verl
name: local-verl
verl:
  code: ./verl
  workload: ppo
  model: {ws}/models/tiny
  train_files: [{ws}/data/train.parquet]
  val_files: [{ws}/data/test.parquet]
  reward: {{path: ./reward.py, name: compute_score}}
  overrides: [actor_rollout_ref.rollout.name=vllm]
resources: {{nodes: 1, gpus_per_node: 1}}
""")
    result = run(world, "alice", "submit", "task.yaml", "--dry-run", "-o", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    snapshots = world.settings.shared_root.resolve() / "users" / "alice" / ".argus" / "snapshots"
    dry = json.loads(result.stdout)
    entrypoint = dry["entrypoint"]
    reward_dirs = [p for p in snapshots.iterdir() if (p / "reward.py").exists()]
    tree_dirs = [p for p in snapshots.iterdir() if (p / "verl" / "trainer").is_dir()]
    assert len(reward_dirs) == 1 and len(tree_dirs) == 1
    assert f"{reward_dirs[0]}/reward.py" in entrypoint  # the reward key names the snapshot
    assert str(tree_dirs[0]) in json.dumps(dry["runtime_env"])  # the tree runs from it
