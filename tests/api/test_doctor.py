"""argus doctor over real HTTP: a failed task's saved log through the failure table, an
OpenAI-compatible model asked for a diagnosis (a local fake server on loopback: the boundary),
and the cluster check (zombies, RUNNING tasks whose Ray job is gone)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from argus import noderegistry
from argus.db.models import Attempt, Task
from tests.api.conftest import World, build_world
from tests.api.test_cli_identity import Cli
from tests.conftest import ServerThread
from tests.fakeray import FakeProvider, FakeRay

# What PyTorch's NCCL watchdog prints when a collective hangs (the job then dies).
NCCL_LOG = """step 120 loss 0.412
[rank3]:[E1201 04:12:09.118 ProcessGroupNCCL.cpp:616] [Rank 3] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=4113, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, Timeout(ms)=600000) ran for 600023 milliseconds before timing out.
[rank3]:[E1201 04:12:09.120 ProcessGroupNCCL.cpp:1413] [PG 0 Rank 3] Timeout at NCCL work: 4113, last enqueued NCCL work: 4113, last completed NCCL work: 4112.
RuntimeError: NCCL watchdog timeout
"""


class FakeModel(BaseHTTPRequestHandler):
    """An OpenAI-compatible /v1/chat/completions that answers one fixed diagnosis."""

    requests: list[dict] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeModel.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        answer = {"choices": [{"message": {"role": "assistant", "content": "Rank 3 hung in an all-reduce."}}]}
        payload = json.dumps(answer).encode() if FakeModel.status == 200 else b"overloaded"
        self.send_response(FakeModel.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


@pytest.fixture
def model():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeModel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeModel.requests, FakeModel.status = [], 200
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def served(tmp_path: Path, ray: FakeRay, **settings_update):  # noqa: ANN003, ANN201
    settings, db, tokens = build_world(tmp_path)
    settings = settings.model_copy(update=settings_update)
    app = create_app(settings, provider=FakeProvider(ray), db=db, embed_scheduler=False)
    return settings, db, tokens, ServerThread(app)


def failed_task(db, settings, task_id: int, status: str = "FAILED", sid: str | None = None) -> str:  # noqa: ANN001
    sid = sid or f"argus-x-{task_id}-1"
    now = time.time()
    with db.write() as session:
        session.add(Task(id=task_id, name="grpo", kind="custom", priority="batch", team="red", owner="alice",
                         status=status, reason="", spec={}, spec_text="", checkpoint_dir="/x", nodes=2,
                         gpus_per_node=8, cpus_per_node=1, created_at=now, updated_at=now, queued_at=now, attempts=1))
        session.flush()
        session.add(Attempt(task_id=task_id, number=1, submission_id=sid, status=status, created_at=now,
                            exit_code=1 if status == "FAILED" else None,
                            message="Job entrypoint command failed with exit code 1"))
    if status == "FAILED":
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        (settings.log_dir / f"{sid}.log").write_text(NCCL_LOG)
    return sid


def test_doctor_explains_a_failed_task_and_asks_the_configured_model(tmp_path: Path, model: str) -> None:
    settings, db, tokens, server = served(tmp_path, FakeRay(), doctor_llm_url=model, doctor_llm_model="qwen-72b",
                                          doctor_llm_key="sk-local")
    failed_task(db, settings, 7)
    with server:
        alice = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {tokens['alice']}"})
        answer = alice.get("/v1/tasks/7/doctor").json()
        assert answer["reason"] == "NCCL_TIMEOUT" and answer["transient"]
        assert "Watchdog caught collective operation timeout" in answer["evidence"]
        assert "NCCL_DEBUG" in answer["what_to_do"]
        assert answer["llm"] == {"model": "qwen-72b", "diagnosis": "Rank 3 hung in an all-reduce."}
        (sent,) = FakeModel.requests
        assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sk-local"
        assert sent["body"]["model"] == "qwen-72b" and "NCCL_TIMEOUT" in sent["body"]["messages"][1]["content"]
        assert "ran for 600023 milliseconds" in sent["body"]["messages"][1]["content"]
        FakeModel.status = 503
        broken = alice.get("/v1/tasks/7/doctor").json()
        assert broken["reason"] == "NCCL_TIMEOUT" and "HTTP 503" in broken["llm"]["error"]
        assert httpx.get(f"{server.url}/v1/tasks/7/doctor",
                         headers={"Authorization": f"Bearer {tokens['carol']}"}).status_code == 403
        cli = Cli(tmp_path / "cli", server.url)
        FakeModel.status = 200
        shown = cli("doctor", "7", token=tokens["alice"])
        assert shown.returncode == 0, shown.stderr
        assert "cause: NCCL_TIMEOUT" in shown.stdout and "qwen-72b says: Rank 3 hung" in shown.stdout
        alice.close()


def test_doctor_without_a_model_and_the_cluster_check(tmp_path: Path) -> None:
    ray = FakeRay()
    settings, db, tokens, server = served(tmp_path, ray)
    failed_task(db, settings, 8)
    failed_task(db, settings, 9, status="RUNNING")  # RUNNING in the DB, unknown to Ray
    noderegistry.publish(settings.shared_root, {"name": "gpu-3", "quarantined": True, "raylet": False,
                                                "quarantine_reason": "Xid 79 on GPU 0000:3b:00",
                                                "heartbeat_at": time.time()})
    with server:
        root = {"Authorization": f"Bearer {tokens['root']}"}
        answer = httpx.get(f"{server.url}/v1/tasks/8/doctor", headers=root).json()
        assert answer["reason"] == "NCCL_TIMEOUT" and "llm" not in answer
        found = httpx.get(f"{server.url}/v1/doctor", headers=root).json()
        assert found["ray_reachable"] and not found["healthy"]
        assert found["running_without_job"] == [{"task": 9, "submission_id": "argus-x-9-1",
                                                 "why": "Ray has no such job"}]
        assert found["zombie_nodes"] == [{"node": "ray-w1", "why": "Ray node without a live agent"}]
        assert found["quarantined"] == [{"node": "gpu-3", "reason": "Xid 79 on GPU 0000:3b:00"}]
        cli = Cli(tmp_path / "cli", server.url)
        shown = cli("doctor", token=tokens["root"])
        assert "task 9 is RUNNING but Ray has no such job" in shown.stdout and "3 finding(s)" in shown.stdout
