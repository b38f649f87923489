"""A small, real, CPU-only training run: linear regression by SGD with numpy.

Saves a checkpoint every --save-freq steps (default: $ARGUS_SAVE_FREQ or 20) into
$ARGUS_CHECKPOINT_DIR as global_step_N/state.npz plus latest_checkpointed_iteration.txt (the
layout verl uses), keeps the newest $ARGUS_CHECKPOINT_KEEP of them when set, resumes from the
newest one, and on SIGTERM (preemption, cancel) saves the
current step before exiting.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np


def save(ckpt: Path, step: int, w: np.ndarray, b: float) -> None:
    step_dir = ckpt / f"global_step_{step}"
    step_dir.mkdir(parents=True, exist_ok=True)
    tmp = step_dir / "state.tmp.npz"
    np.savez(tmp, w=w, b=np.array(b), step=np.array(step))
    os.replace(tmp, step_dir / "state.npz")
    marker = ckpt / "latest_checkpointed_iteration.txt.tmp"
    marker.write_text(str(step))
    os.replace(marker, ckpt / "latest_checkpointed_iteration.txt")
    prune(ckpt, int(os.environ.get("ARGUS_CHECKPOINT_KEEP", "0") or 0))


def prune(ckpt: Path, keep: int) -> None:
    """Keep the newest ``keep`` global_step_N directories ($ARGUS_CHECKPOINT_KEEP; 0 keeps all)."""
    if keep < 1:
        return
    steps = sorted(int(p.name.rsplit("_", 1)[1]) for p in ckpt.glob("global_step_*") if p.name.rsplit("_", 1)[1].isdigit())
    for step in steps[:-keep]:
        for f in (ckpt / f"global_step_{step}").iterdir():
            f.unlink()
        (ckpt / f"global_step_{step}").rmdir()


def load(ckpt: Path) -> tuple[int, np.ndarray | None, float]:
    try:
        step = int((ckpt / "latest_checkpointed_iteration.txt").read_text().strip())
        state = np.load(ckpt / f"global_step_{step}" / "state.npz")
        return step, state["w"], float(state["b"])
    except (OSError, ValueError, KeyError):
        return 0, None, 0.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--sleep", type=float, default=0.05, help="seconds per step")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--save-freq", type=int, default=int(os.environ.get("ARGUS_SAVE_FREQ", "20")))
    args = parser.parse_args()
    if args.save_freq < 1:
        parser.error("--save-freq must be at least 1")
    return args


def record_resume(ckpt: Path, step: int) -> list[int]:
    """Every step this task has resumed from, across runs, this one included (resumes.json)."""
    resumes_file = ckpt / "resumes.json"
    resumes = json.loads(resumes_file.read_text()) if resumes_file.exists() else []
    if step > 0:
        print(f"resumed from step {step}", flush=True)
        resumes.append(step)
        tmp = ckpt / "resumes.json.tmp"
        tmp.write_text(json.dumps(resumes))
        os.replace(tmp, resumes_file)
    return resumes


def main() -> int:
    args = parse_args()
    ckpt = Path(os.environ.get("ARGUS_CHECKPOINT_DIR", "checkpoints"))
    ckpt.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4))
    y = x @ np.array([1.5, -2.0, 0.5, 3.0]) + 0.7
    step, w, b = load(ckpt)
    w = np.zeros(4) if w is None else w
    resumes = record_resume(ckpt, step)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _sig, _frame: stop.set())
    loss = float("nan")
    while step < args.steps:
        err = x @ w + b - y
        loss = float(np.mean(err**2))
        w = w - args.lr * 2 * x.T @ err / len(x)
        b = b - args.lr * 2 * float(np.mean(err))
        step += 1
        print(f"step {step} loss {loss:.6f}", flush=True)
        if step % args.save_freq == 0:
            save(ckpt, step, w, b)
        if stop.is_set() or stop.wait(args.sleep):
            # Preempted or cancelled: keep this step's progress (saved between steps, never
            # from inside the handler, so a half-written file is never left behind).
            save(ckpt, step, w, b)
            print(f"stopping: saved step {step}", flush=True)
            return 143
    save(ckpt, step, w, b)
    final = {"final_step": step, "resumed_from": resumes, "loss": loss}
    tmp = ckpt / "final.json.tmp"
    tmp.write_text(json.dumps(final))
    os.replace(tmp, ckpt / "final.json")
    print(f"final step {step} loss {loss:.6f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
