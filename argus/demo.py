"""``make demo``: bring Argus up locally on embedded defaults and run a real task end to end.

``argus up --workers 1`` starts the head agent (Ray head + head record on a shared root), one
worker agent (4 logical H100s) and the Argus server; the demo fetches the verl 0.9.1 source
tree (its config only matters here), submits examples/custom-train.yaml and follows it to
SUCCEEDED as the admin ``argus up`` created, shows ``argus list`` and a dry run of examples/verl-grpo.yaml, then ``argus down``
stops exactly what was started.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from argus.verl.fetch import fetch_verl_tree

REPO = Path(__file__).resolve().parents[1]


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def argus(env: dict[str, str], *args: str) -> int:
    print(f"$ argus {' '.join(args)}", flush=True)
    return subprocess.run([sys.executable, "-m", "argus.cli.main", *args], env=env, cwd=REPO).returncode


def up_record(state: Path) -> dict:
    return json.loads((state / "up.json").read_text())


def main() -> int:
    state = REPO / ".state" / "demo"
    shutil.rmtree(state, ignore_errors=True)
    up_dir = state / "up"
    # the examples (and the verl example's /gpfs paths) are registered shared paths of the server
    base = {**os.environ, "ARGUS_SHARED_PATHS": json.dumps([str(REPO / "examples"), "/gpfs"])}
    try:
        say("argus up --workers 1: a head agent, one worker agent (4 logical H100s), the Argus server "
            "and its first admin (argus admin init)")
        if argus(base, "up", "--workers", "1", "--state-dir", str(up_dir)) != 0:
            return 1
        record = up_record(up_dir)
        shared = up_dir / "shared"
        say("fetching the verl 0.9.1 source tree (for its hydra config) into the shared root")
        tree = fetch_verl_tree("0.9.1", shared / "code" / "verl-0.9.1", REPO / ".cache" / "verl")
        print(f"verl tree: {tree}")
        token = Path(record["token_file"]).read_text().strip()
        env = {**base, "ARGUS_SERVER": record["server"], "ARGUS_TOKEN": token}
        say("argus whoami")
        argus(env, "whoami")

        say("submitting examples/custom-train.yaml and following it")
        rc = argus(env, "submit", "examples/custom-train.yaml", "--follow")
        say("argus list")
        argus(env, "list")
        say("argus verl trees: the verl trees the server knows, their interpreter, layout and status")
        argus(env, "verl", "trees")
        say("dry run of examples/verl-grpo.yaml: the exact Ray entrypoint, checked against verl's config")
        argus(env, "submit", "examples/verl-grpo.yaml", "--dry-run")
        say("demo " + ("succeeded" if rc == 0 else "FAILED: the task did not succeed"))
        return rc
    finally:
        say("argus down: stopping exactly what argus up started")
        if (up_dir / "up.json").exists():
            argus(base, "down", "--state-dir", str(up_dir))


if __name__ == "__main__":
    sys.exit(main())
