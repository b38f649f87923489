"""The custom example program: it trains, checkpoints, resumes, and keeps progress on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

TRAIN = Path(__file__).resolve().parents[2] / "examples" / "tiny_train" / "train.py"


def run(ckpt: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ARGUS_CHECKPOINT_DIR": str(ckpt), "ARGUS_SAVE_FREQ": "10"}
    return subprocess.run([sys.executable, str(TRAIN), "--sleep", "0", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_trains_to_the_end_and_checkpoints_every_save_freq(tmp_path):
    done = run(tmp_path, "--steps", "25")
    assert done.returncode == 0, done.stderr
    assert "final step 25" in done.stdout
    final = json.loads((tmp_path / "final.json").read_text())
    assert final["final_step"] == 25 and final["resumed_from"] == [] and final["loss"] < 10
    assert (tmp_path / "global_step_10" / "state.npz").exists()
    assert (tmp_path / "global_step_20" / "state.npz").exists()
    assert (tmp_path / "latest_checkpointed_iteration.txt").read_text() == "25"


def test_resumes_from_the_newest_checkpoint(tmp_path):
    assert run(tmp_path, "--steps", "20").returncode == 0
    again = run(tmp_path, "--steps", "35")
    assert "resumed from step 20" in again.stdout and "step 21 loss" in again.stdout
    assert "step 20 loss" not in again.stdout
    assert json.loads((tmp_path / "final.json").read_text())["resumed_from"] == [20]


def test_sigterm_saves_the_current_step_and_exits_143(tmp_path):
    env = {**os.environ, "ARGUS_CHECKPOINT_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, str(TRAIN), "--steps", "100000", "--sleep", "0.01",
                             "--save-freq", "1000"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("step 13 "):
                break
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 143
    finally:
        proc.kill()
        proc.stdout.close()
    step = int((tmp_path / "latest_checkpointed_iteration.txt").read_text())
    assert step >= 13 and (tmp_path / f"global_step_{step}" / "state.npz").exists()
    again = run(tmp_path, "--steps", str(step + 2))
    assert f"resumed from step {step}" in again.stdout and f"final step {step + 2}" in again.stdout


def test_argus_checkpoint_keep_keeps_the_newest_steps(tmp_path):
    env = {**os.environ, "ARGUS_CHECKPOINT_DIR": str(tmp_path), "ARGUS_SAVE_FREQ": "10",
           "ARGUS_CHECKPOINT_KEEP": "2"}
    done = subprocess.run([sys.executable, str(TRAIN), "--sleep", "0", "--steps", "45"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.glob("global_step_*")) == ["global_step_40", "global_step_45"]
