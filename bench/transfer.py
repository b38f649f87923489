"""Upload throughput into a workspace: argus cp (HTTP chunks, sha256 at the end) and Argus's SFTP
(the real OpenSSH sftp client) beside a plain local file copy on the same disk, over loopback.

    .venv/bin/python bench/transfer.py [--mib 256] [--runs 3]

Starts an Argus server in-process (real SQLite, real HTTP, SFTP on a free port); prints the
median MiB/s of each way and its ratio to the local copy. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app  # noqa: E402
from argus.authz import Principal  # noqa: E402
from argus.cli.transfer import download_file, upload_file  # noqa: E402
from argus.client import ArgusClient  # noqa: E402
from argus.db.engine import Database  # noqa: E402
from argus.db.migrate import upgrade  # noqa: E402
from argus.raynode import free_port  # noqa: E402
from argus.services import identity, keys  # noqa: E402
from argus.settings import Settings  # noqa: E402
from tests.api.conftest import FakeCluster  # noqa: E402
from tests.conftest import ServerThread  # noqa: E402

ADMIN = Principal("root", "admin", None, "bootstrap")


def timed(fn) -> float:  # noqa: ANN001
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def setup(root: Path) -> tuple[Settings, Database, str, Path]:
    settings = Settings(state_dir=root / "state", shared_root=root / "shared", sftp_port=free_port(),
                        storage_usage_ttl_seconds=30)
    db = Database(settings.database_url)
    upgrade(db)
    identity.bootstrap_admin(db, "root")
    identity.create_team(db, ADMIN, "bench")
    identity.create_user(db, ADMIN, "u", team="bench", role="user")
    token = identity.create_token(db, ADMIN, "u", name="bench")["token"]
    key = root / "id_bench"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    keys.add_key(db, Principal("u", "user", "bench"), key.with_suffix(".pub").read_text())
    return settings, db, token, key


def sftp_put(port: int, key: Path, local: Path, remote: str, cwd: Path) -> None:
    batch = cwd / "batch"
    batch.write_text(f"put {local} {remote}\n")
    subprocess.run(["sftp", "-b", str(batch), "-o", "StrictHostKeyChecking=no",
                    "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-i", str(key),
                    "-P", str(port), "u@127.0.0.1"], check=True, capture_output=True, timeout=600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="argus-bench-transfer-"))
    try:
        settings, db, token, key = setup(root)
        data = root / "payload.bin"
        with data.open("wb") as out:
            for _ in range(args.mib):
                out.write(os.urandom(1 << 20))
        app = create_app(settings, provider=FakeCluster(), db=db, embed_scheduler=False)
        ws = settings.shared_root / "users" / "u"
        times: dict[str, list[float]] = {"local copy": [], "argus cp upload": [],
                                         "argus cp download": [], "sftp put": []}
        with ServerThread(app) as server:
            client = ArgusClient(server.url, token=token)
            for run in range(args.runs):
                times["local copy"].append(timed(lambda: shutil.copyfile(data, ws / f"plain-{run}.bin")))
                times["argus cp upload"].append(timed(lambda: upload_file(client, data, f"/cp-{run}.bin")))
                back = root / f"back-{run}.bin"
                times["argus cp download"].append(timed(lambda: download_file(client, f"/cp-{run}.bin", back)))
                back.unlink()
                times["sftp put"].append(timed(lambda: sftp_put(settings.sftp_port, key, data,
                                                                f"sftp-{run}.bin", root)))
                for name in (f"plain-{run}.bin", f"cp-{run}.bin", f"sftp-{run}.bin"):
                    (ws / name).unlink()
        base = statistics.median(times["local copy"])
        print(f"{args.mib} MiB file, median of {args.runs} runs, loopback, one disk")
        print(f"{'way':<20} {'seconds':>8} {'MiB/s':>8} {'vs local copy':>14}")
        for way, samples in times.items():
            med = statistics.median(samples)
            print(f"{way:<20} {med:>8.2f} {args.mib / med:>8.1f} {base / med:>13.2f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
