"""GET /v1/nodes and POST /v1/nodes/{name}/release over real HTTP; agents' records on a real
shared root, Ray's node list faked at its boundary; `argus nodes` / `argus node release` as
real CLI processes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from api.app import create_app
from argus import noderegistry
from argus.db.models import AuditEntry
from argus.ray_adapter import NodeInfo
from argus.services.nodes import NO_AGENT, NO_RAYLET
from tests.api.conftest import World, build_world
from tests.api.test_cli_identity import Cli
from tests.conftest import ServerThread
from tests.fakeray import FakeProvider, FakeRay


def ray_node(node_id: str, name: str | None, gpus: float = 8) -> NodeInfo:
    resources = {"CPU": 8, "GPU": gpus, "argus_worker": 1000}
    if name:
        resources[noderegistry.node_resource(name)] = 1
    return NodeInfo(node_id, True, False, "10.0.0.9", resources)


def publish(root: Path, name: str, **fields) -> None:  # noqa: ANN003
    noderegistry.publish(root, {"name": name, "address": f"10.0.0.{len(name)}", "num_gpus": 8,
                                "gpu_model": "H100", "raylet": True, "quarantined": False,
                                "heartbeat_at": time.time(), **fields})


@pytest.fixture
def world(tmp_path: Path):
    settings, db, tokens = build_world(tmp_path)
    ray = FakeRay(node_list=[ray_node("a" * 56, "w1"), ray_node("b" * 56, "w4"), ray_node("c" * 56, None)])
    app = create_app(settings, provider=FakeProvider(ray), db=db, embed_scheduler=False)
    with ServerThread(app) as server:
        world = World(settings, db, server.url, tokens)
        yield world
        for client in world.clients.values():
            client.close()


def test_nodes_join_agent_records_ray_and_spot_zombies(world: World) -> None:
    root = world.settings.shared_root
    publish(root, "w1", quarantined=True, quarantine_reason="Xid 79 on GPU 0000:3b:00", quarantined_at=1.0,
            raylet=False)
    publish(root, "w2")  # its agent runs a raylet Ray does not list
    publish(root, "w3", heartbeat_at=time.time() - 3600, raylet=False)  # long gone
    resp = world.client("vera").get("/v1/nodes")
    assert resp.status_code == 200, resp.text
    rows = {n["name"]: n for n in resp.json()["items"]}
    assert rows["w1"]["state"] == "quarantined" and rows["w1"]["quarantine_reason"] == "Xid 79 on GPU 0000:3b:00"
    assert rows["w1"]["ray_node_id"] == "a" * 56 and rows["w1"]["zombie"] == ""
    assert rows["w2"]["zombie"] == NO_RAYLET and rows["w2"]["state"] == "joining"
    assert rows["w3"]["state"] == "down" and rows["w3"]["heartbeat_age"] >= 3599
    assert rows["w4"]["zombie"] == NO_AGENT and rows[f"ray-{'c' * 12}"]["zombie"] == NO_AGENT
    assert world.client("audrey").get("/v1/nodes").status_code == 403


def test_release_is_admin_only_audited_and_reaches_the_agent(world: World) -> None:
    root = world.settings.shared_root
    publish(root, "w1", quarantined=True, quarantine_reason="Xid 79 on GPU 0000:3b:00")
    publish(root, "w2")
    assert world.client("alice").post("/v1/nodes/w1/release").status_code == 403
    missing = world.client("root").post("/v1/nodes/nope/release")
    assert missing.status_code == 404 and "w1" in missing.json()["error"]["message"]
    assert world.client("root").post("/v1/nodes/w2/release").status_code == 409
    assert world.client("root").post("/v1/nodes/..%2Fx/release").status_code in (400, 404)
    done = world.client("root").post("/v1/nodes/w1/release")
    assert done.status_code == 200 and done.json()["was"] == "Xid 79 on GPU 0000:3b:00"
    assert noderegistry.pending_release(root, "w1")["by"] == "root"
    with world.db.read() as session:
        entry = session.query(AuditEntry).filter(AuditEntry.action == "node.release", AuditEntry.outcome == "ok").one()
        refused = session.query(AuditEntry).filter(AuditEntry.action == "node.release", AuditEntry.outcome == "denied").count()
    assert refused == 1
    assert (entry.actor, entry.target, entry.outcome) == ("root", "node/w1", "ok")
    assert entry.params["reason"] == "Xid 79 on GPU 0000:3b:00"


def test_cli_lists_nodes_and_releases_one(world: World, tmp_path: Path) -> None:
    publish(world.settings.shared_root, "w1", quarantined=True, quarantine_reason="Xid 79 on GPU 0000:3b:00")
    cli = Cli(tmp_path / "cli", world.url)
    listed = cli("nodes", token=world.tokens["root"])
    assert listed.returncode == 0, listed.stderr
    header, *lines = listed.stdout.splitlines()
    assert header.split()[:5] == ["NODE", "ADDRESS", "GPUS", "IN_USE", "STATE"]
    assert any(line.startswith("w1 ") and "quarantined" in line and "Xid 79 on GPU 0000:3b:00" in line
               for line in lines)
    refused = cli("node", "release", "w1", token=world.tokens["alice"])
    assert refused.returncode == 1 and "may not node.release" in refused.stderr
    released = cli("node", "release", "w1", token=world.tokens["root"])
    assert released.returncode == 0 and "release requested" in released.stdout
