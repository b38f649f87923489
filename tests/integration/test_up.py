"""`argus up` / `argus down` as a user runs them: real agents, a real server, a real task."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from argus.client import ArgusClient
from tests.integration.conftest import EXAMPLES, wait_status

pytestmark = pytest.mark.integration


def argus(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "argus.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_up_runs_a_task_as_the_bootstrapped_admin_and_down_stops_exactly_that(tmp_path):
    state = tmp_path / "up"
    env = {**os.environ, "ARGUS_SHARED_PATHS": json.dumps([str(EXAMPLES)])}
    env.pop("ARGUS_TOKEN", None)
    up = argus("up", "--workers", "1", "--gpus-per-worker", "2", "--state-dir", str(state), "--timeout", "150",
               env=env, timeout=300)
    record = json.loads((state / "up.json").read_text()) if (state / "up.json").exists() else {}
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        token_file = Path(record["token_file"])
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert f"ARGUS_TOKEN=$(cat {token_file})" in up.stdout and token_file.read_text().strip() not in up.stdout
        assert httpx.get(f"{record['server']}/v1/tasks").status_code == 401
        client = ArgusClient(record["server"], token=token_file.read_text().strip())
        assert client.whoami()["role"] == "admin"
        task = client.submit({"kind": "custom", "name": "up-smoke", "code": str(EXAMPLES / "tiny_train"),
                              "command": ["python", "train.py", "--steps", "5"],
                              "resources": {"nodes": 1, "cpus": 1, "gpus_per_node": "1(H100)"}})
        done = wait_status(client, task["id"], "SUCCEEDED", "FAILED", timeout=120)
        assert done["status"] == "SUCCEEDED", done
        client.close()
    finally:
        down = argus("down", "--state-dir", str(state), env=env, timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert [p["name"] for p in record["processes"]] == ["head", "worker0", "server"]
    assert not [p["name"] for p in record["processes"] if running(p["pid"])]
    assert not (state / "up.json").exists()
    again = argus("down", "--state-dir", str(state), env=env, timeout=60)
    assert again.returncode != 0 and "nothing to stop" in again.stderr
