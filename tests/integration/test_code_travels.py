"""Code travels with the task, on a real Ray cluster: a YAML next to local code (not on the
shared filesystem) is submitted with the CLI, its code is snapshotted into the workspace, the
task runs from the snapshot to SUCCEEDED, and a resubmission runs the same snapshot even after
the local code changed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import EXAMPLES, wait_status

pytestmark = pytest.mark.integration
ARGUS = [sys.executable, "-m", "argus.cli.main"]
TASK = """kind: custom
name: travels
priority: online
code: ./tiny_train
command: [python, train.py, --steps, "30", --sleep, "0.01"]
resources: {nodes: 1, cpus: 1}
checkpoint: {save_freq: 10}
"""


def test_local_code_is_snapshotted_runs_and_resubmit_runs_the_same_snapshot(argus_env, tmp_path: Path):
    settings, server, client = argus_env
    shutil.copytree(EXAMPLES / "tiny_train", tmp_path / "tiny_train")
    (tmp_path / "tiny_train" / "notes.log").write_text("not for the cluster")
    (tmp_path / "tiny_train" / ".argusignore").write_text("*.log\n")
    (tmp_path / "task.yaml").write_text(TASK)
    run = subprocess.run([*ARGUS, "--server", server.url, "submit", "task.yaml", "--follow",
                          "--output", "json"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["status"] == "SUCCEEDED"
    task = client.get(summary["id"])
    digest = task["snapshots"]["code"]
    snap = settings.shared_root.resolve() / "users" / "admin" / ".argus" / "snapshots" / digest
    assert sorted(p.name for p in snap.iterdir()) == [".argusignore", "train.py"]
    assert "final step 30" in client.logs(summary["id"])
    # The local copy breaks; the resubmission still runs the snapshot it was submitted with.
    (tmp_path / "tiny_train" / "train.py").write_text("raise SystemExit(3)\n")
    again = client.resubmit(summary["id"], fresh=True)
    assert again["snapshots"] == {"code": digest}
    done = wait_status(client, again["id"], "SUCCEEDED", "FAILED", timeout=180)
    assert done["status"] == "SUCCEEDED", done
