"""Submission throughput and latency under wrk: Argus ``POST /v1/tasks`` beside Ray's ``POST /api/jobs/``.

One run, one external load generator in its own process (``wrk``, 32 connections, 15 s each, a
Lua script that POSTs a JSON body with an Authorization header), against:

(a) a real ``argus server --no-scheduler`` on loopback, three times: one process with every
    request's token read from the database and one transaction per submit
    (ARGUS_AUTH_RECHECK_SECONDS=0, ARGUS_GROUP_COMMIT=false: before); one process with the
    defaults (principals cached against the identity epoch, group commit); ``--api-workers N``
    (default 2: one per core here) processes on the port; and the same with ``--pin-cpus``
    (ARGUS_API_PIN_CPUS: worker i on CPU i), each on a fresh database (a real SQLite file with
    synchronous=FULL, a real non-admin user's token, a custom task whose code dir is in that
    user's workspace). The scheduler is off, so only the submit path is measured: tasks stay
    QUEUED, nothing reaches Ray;
(b) Ray's own Jobs API on a real local Ray head started here (its own process group, stopped
    by its pgid). Each job asks for a resource nobody has, so it stays PENDING and only Ray's
    submit path is measured, as for Argus.

Afterwards it checks that every submit wrk saw accepted is in the database (row count) and that
the audit chain holds (``argus audit verify --local``).

    .venv/bin/python bench/submit.py [--connections 32] [--duration 15] [--api-workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from argus.authz import Principal  # noqa: E402
from argus.db.engine import Database  # noqa: E402
from argus.db.migrate import upgrade  # noqa: E402
from argus.files.workspaces import ensure_user  # noqa: E402
from argus.raynode import free_port  # noqa: E402
from argus.services.identity import bootstrap_admin, create_token, create_user  # noqa: E402
from argus.settings import Settings  # noqa: E402
from tests.localray import LocalRay  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
USER = "bench-user"

# wrk's Lua: every request is the same POST; done() prints one JSON line that main() parses.
LUA = """
wrk.method = "POST"
wrk.body = [==[%(body)s]==]
wrk.headers["Content-Type"] = "application/json"
%(auth)s
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "non2xx": %%d, "connect": %%d, "read": %%d, '
    .. '"write": %%d, "timeout": %%d, "p50_us": %%d, "p99_us": %%d, "max_us": %%d}\\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def run_wrk(url: str, body: dict, token: str | None, root: Path, name: str,
            connections: int, duration: int) -> dict:
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"' if token else ""
    script = root / f"{name}.lua"
    script.write_text(LUA % {"body": json.dumps(body), "auth": auth})
    out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration}s",
                          "--timeout", "10s", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    row = json.loads(line.removeprefix("WRKJSON "))
    errors = row["connect"] + row["read"] + row["write"] + row["timeout"]
    row["accepted"] = row["requests"] - row["non2xx"]  # wrk counts only completed responses
    row["per_s"] = row["accepted"] / (row["duration_us"] / 1e6)
    row["errors"] = errors
    return row


def prepare_argus(root: Path) -> tuple[Settings, str, dict]:
    """A migrated SQLite database, a non-admin user with a token, a code dir in their workspace."""
    settings = Settings(state_dir=root / "state", shared_root=root / "shared")
    db = Database(settings.database_url)
    try:
        upgrade(db)
        bootstrap_admin(db, "bench-admin")
        actor = Principal(name="bench-admin", role="admin", team=None, token_name="bootstrap",
                          grants=frozenset())
        create_user(db, actor, USER, team=None, role="user")
        token = create_token(db, actor, USER, name="bench")["token"]
    finally:
        db.dispose()
    code = ensure_user(settings, USER) / "tiny_train"
    shutil.copytree(EXAMPLES / "tiny_train", code)
    spec = {"kind": "custom", "name": "bench", "code": str(code),
            "command": ["python", "train.py"], "resources": {"nodes": 1, "cpus": 1}}
    return settings, token, spec


def start_argus(root: Path, extra_env: dict, workers: int = 1) -> tuple[subprocess.Popen, str, dict]:
    port = free_port()
    env = {**os.environ, **extra_env, "ARGUS_STATE_DIR": str(root / "state"),
           "ARGUS_SHARED_ROOT": str(root / "shared"),
           "ARGUS_EMBED_SCHEDULER": "false", "ARGUS_RAY_ADDRESS": "http://127.0.0.1:9"}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "argus"), "server", "--no-scheduler",
                             "--port", str(port), "--api-workers", str(workers)], env=env, stdout=subprocess.DEVNULL,
                            stderr=open(root / "argus.log", "w"), start_new_session=True)  # noqa: SIM115
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code < 500:
                time.sleep(2 if workers > 1 else 0)  # the other workers: up moments later
                return proc, url, env
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"argus server did not come up; see {root / 'argus.log'}")


def check_argus(root: Path, settings: Settings, env: dict, accepted: int) -> tuple[int, str]:
    """Rows in the database (must be >= what wrk saw accepted) and the audit chain's verdict."""
    db_path = settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
    if rows < accepted:
        raise SystemExit(f"LOST SUBMITS: wrk saw {accepted} accepted, the database has {rows}")
    verify = subprocess.run([str(Path(sys.executable).parent / "argus"), "audit", "verify", "--local"],
                            env=env, capture_output=True, text=True)
    if verify.returncode != 0:
        raise SystemExit(f"audit chain broken: {verify.stdout}{verify.stderr}")
    return rows, verify.stdout.strip()


def bench_argus(root: Path, args: argparse.Namespace, extra_env: dict,
                workers: int = 1) -> tuple[dict, int, str]:
    root.mkdir()
    settings, token, spec = prepare_argus(root)
    proc, url, env = start_argus(root, extra_env, workers)
    try:
        row = run_wrk(f"{url}/v1/tasks", spec, token, root, "argus", args.connections, args.duration)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)
    rows, verdict = check_argus(root, settings, env, row["accepted"])
    return row, rows, verdict


def bench_ray(root: Path, args: argparse.Namespace) -> dict:
    ray = LocalRay(root / "ray")
    ray.root.mkdir()
    try:
        ray.start_head()
        # No submission_id in the body: Ray makes a fresh one per job (a fixed one would be 4xx).
        body = {"entrypoint": "true", "entrypoint_resources": {"bench_never": 1}}
        return run_wrk(f"{ray.dashboard_url}/api/jobs/", body, None, root, "ray",
                       args.connections, args.duration)
    finally:
        ray.stop()  # SIGTERM then SIGKILL to the head's process group, by pgid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=int, default=15, help="seconds of load per target")
    parser.add_argument("--api-workers", type=int, default=2, help="workers of the last Argus row")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/submit.py needs wrk: `make bench-submit` installs it (apt package wrk)")
    root = Path(tempfile.mkdtemp(prefix="argus-bench-submit-"))
    try:
        # before: a database read per request to authenticate, a transaction per submit
        before = bench_argus(root / "before", args, {"ARGUS_AUTH_RECHECK_SECONDS": "0",
                                                     "ARGUS_GROUP_COMMIT": "false"})
        one = bench_argus(root / "one", args, {})
        after = bench_argus(root / "after", args, {}, args.api_workers)
        pinned = bench_argus(root / "pinned", args, {"ARGUS_API_PIN_CPUS": "true"}, args.api_workers)
        ray_row = bench_ray(root, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(f"\nwrk, {args.connections} connections, {args.duration} s each; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'':44}{'requests':>9}{'accepted/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>8}{'errors':>7}")
    argus_row = after[0]
    rows_out = (("argus, token read + 1 txn/submit (before)", before[0]),
                ("argus POST /v1/tasks, 1 process", one[0]),
                (f"argus POST /v1/tasks, --api-workers {args.api_workers}", argus_row),
                (f"argus, --api-workers {args.api_workers} --pin-cpus", pinned[0]),
                ("ray POST /api/jobs/", ray_row))
    for name, row in rows_out:
        print(f"{name:44}{row['requests']:9d}{row['per_s']:11.1f}{row['p50_us'] / 1000:9.1f}"
              f"{row['p99_us'] / 1000:9.1f}{row['non2xx']:8d}{row['errors']:7d}")
    print(f"{'ratio argus/ray':44}{'':9}{argus_row['per_s'] / ray_row['per_s']:11.2f}"
          f"{argus_row['p50_us'] / ray_row['p50_us']:9.2f}{argus_row['p99_us'] / ray_row['p99_us']:9.2f}"
          f"   (goal: >= 10x accepted/s, p99 < 100 ms, no non-2xx)")
    print(f"{'ratio argus --pin-cpus/ray':44}{'':9}{pinned[0]['per_s'] / ray_row['per_s']:11.2f}"
          f"{pinned[0]['p50_us'] / ray_row['p50_us']:9.2f}{pinned[0]['p99_us'] / ray_row['p99_us']:9.2f}")
    print(f"{'ratio argus 1 process/ray':44}{'':9}{one[0]['per_s'] / ray_row['per_s']:11.2f}"
          f"{one[0]['p50_us'] / ray_row['p50_us']:9.2f}{one[0]['p99_us'] / ray_row['p99_us']:9.2f}")
    print(f"{'ratio argus before/ray':44}{'':9}{before[0]['per_s'] / ray_row['per_s']:11.2f}"
          f"{before[0]['p50_us'] / ray_row['p50_us']:9.2f}{before[0]['p99_us'] / ray_row['p99_us']:9.2f}")
    for name, (row, rows, verdict) in (("before", before), ("1 process", one),
                                       (f"--api-workers {args.api_workers}", after),
                                       ("--pin-cpus", pinned)):
        print(f"argus {name}: {row['accepted']} accepted by wrk, {rows} tasks in the database "
              f"(>= accepted: every accepted submit is durable); audit: {verdict}")


if __name__ == "__main__":
    main()
