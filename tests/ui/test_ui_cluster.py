"""The queue (planner's order, why-pending, quota bars) and the nodes page (head record, the
agents' node records joined with Ray's nodes and GPUs in use, quarantine and release)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from argus import noderegistry
from argus.headrecord import HeadRecord, allocate_epoch, publish
from argus.ray_adapter import NodeInfo
from tests.conftest import until
from tests.ui.conftest import UiWorld, serve_ui, shot, sign_in

QUOTA = {"red": {"quota": {"H100": {"nominal": 4, "borrowing_limit": 0, "lending_limit": 0}}},
         "blue": {"quota": {"H100": {"nominal": 4, "borrowing_limit": 0, "lending_limit": 0}}}}


@pytest.fixture(scope="module")
def ui_world(tmp_path_factory) -> Iterator[UiWorld]:  # noqa: ANN001
    yield from serve_ui(tmp_path_factory.mktemp("ui-cluster"), teams=QUOTA, rebalance_period_seconds=0)


def _submit(world: UiWorld, owner: str, name: str, gpus: int, priority: str = "batch") -> int:
    spec = world.spec(owner, name=name, priority=priority,
                      resources={"nodes": 1, "cpus": 1, "gpus_per_node": f"{gpus}(H100)"})
    response = world.client(owner).post("/v1/tasks", json=spec)
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture(scope="module")
def queued(ui_world: UiWorld) -> dict[str, int]:
    """alice runs 4 GPUs (red's whole quota); bob's 4 wait for quota; carol's 8 wait for room."""
    ui_world.ray.node_list = [NodeInfo(f"w{n}", True, False, f"10.0.0.{n}", {
        "CPU": 4, "GPU": 8, "argus_worker": 1000, "accelerator_type:H100": 1,
        noderegistry.node_resource(name): 1}) for n, name in ((1, "gpu-a"), (2, "gpu-b"))]
    ids = {"running": _submit(ui_world, "alice", "holds-red-quota", 4)}
    root = ui_world.client("root")
    until(lambda: root.get(f"/v1/tasks/{ids['running']}").json()["status"] == "RUNNING")
    ids["bob"] = _submit(ui_world, "bob", "over-quota", 4)
    ids["carol"] = _submit(ui_world, "carol", "needs-the-node", 8)
    until(lambda: all(root.get(f"/v1/tasks/{ids[k]}").json()["reason"] not in ("", "queued")
                       for k in ("bob", "carol")))
    return ids


def test_queue_page_shows_the_planners_order_why_pending_and_quota_bars(page, ui_world, queued):  # noqa: ANN001
    api = ui_world.client("root").get("/v1/queue").json()
    assert [i["id"] for i in api["items"]] and api["hidden"] == 0
    sign_in(page, ui_world, "root")
    page.click("nav >> text=Queue")
    rows = page.locator("#queue-table tbody tr")
    expect(rows).to_have_count(len(api["items"]))
    for n, item in enumerate(api["items"]):
        expect(rows.nth(n)).to_contain_text(f"{item['id']} · {item['name']}")
        expect(rows.nth(n).locator("td.reason")).to_have_text(item["reason"])
    bob = page.locator(f"#queue-table tr[data-id='{queued['bob']}'] td.reason")
    expect(bob).to_contain_text("team red uses 4/4 H100")
    red = page.locator(".team-quota[data-team='red'] tr[data-flavor='H100']")
    expect(red.locator("td.in-use")).to_have_text("4.0")
    width = red.locator(".bar .used").evaluate("e => e.style.width")
    assert width == "100%"  # 4 of a top of 4 (nominal 4, no borrowing)
    shot(page, "queue")


def test_a_user_sees_only_their_teams_pending_work(page, ui_world, queued):  # noqa: ANN001
    sign_in(page, ui_world, "alice")
    page.goto("/ui/queue")
    expect(page.locator(f"#queue-table tr[data-id='{queued['bob']}']")).to_be_visible()
    expect(page.locator(f"#queue-table tr[data-id='{queued['carol']}']")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("1 more pending task(s) of other teams are not shown")
    expect(page.locator(".team-quota[data-team='blue']")).to_have_count(0)


def _head_and_agent(world: UiWorld) -> tuple[str, str]:
    root = world.settings.shared_root
    epoch = allocate_epoch(root, "test")
    now = time.time()
    publish(root, HeadRecord(epoch, "10.0.0.9:6379", "http://10.0.0.9:8265", "session_x", "headhost",
                             4242, now, now + 600))
    busy = until(lambda: _busy_node(world))
    idle = "gpu-b" if busy == "gpu-a" else "gpu-a"
    for name, n in ((busy, 1), (idle, 2)):
        quarantine = {"quarantined": True, "quarantine_reason": "Xid 79 on GPU 3", "quarantined_at": now} \
            if name == idle else {"quarantined": False}
        noderegistry.publish(root, {"name": name, "address": f"10.0.0.{n}", "num_gpus": 8, "gpu_model": "H100",
                                    "raylet": True, "heartbeat_at": now, **quarantine})
    return busy, idle


def _busy_node(world: UiWorld) -> str | None:
    """The node name the running task was placed on (w1 is gpu-a, w2 gpu-b)."""
    running = world.client("root").get("/v1/tasks", params={"status": "RUNNING"}).json()["items"]
    placement = running[0]["placement"] if running else []
    return {"w1": "gpu-a", "w2": "gpu-b"}.get(placement[0]) if placement else None


def test_nodes_page_shows_the_head_gpus_in_use_and_a_quarantined_node(page, ui_world, queued):  # noqa: ANN001
    busy, idle = _head_and_agent(ui_world)
    sign_in(page, ui_world, "vera")  # a viewer may look at the cluster, not release a node
    page.click("nav >> text=Nodes")
    expect(page.locator("#head-state")).to_have_text("live")
    expect(page.locator("#head")).to_contain_text("10.0.0.9:6379")
    node = page.locator(f"#node-table tr[data-node='{busy}']")
    expect(node).to_contain_text("8 × H100")
    expect(node.locator("td.in-use")).to_have_text("4.0")
    expect(node.locator("td.quarantine")).to_have_text("no")
    quarantined = page.locator(f"#node-table tr[data-node='{idle}']")
    expect(quarantined.locator("td.in-use")).to_have_text("0.0")
    expect(quarantined.locator("td.quarantine")).to_contain_text("Xid 79 on GPU 3")
    expect(quarantined.locator("button.release")).to_have_count(0)
    shot(page, "nodes")
    api = ui_world.client("vera").get("/v1/nodes").json()
    assert sorted(r["name"] for r in api["items"]) == ["gpu-a", "gpu-b"]
    assert page.locator("#head-epoch").inner_text().strip() != ""


def test_an_admin_releases_a_quarantined_node(page, ui_world, queued):  # noqa: ANN001
    _busy, idle = _head_and_agent(ui_world)
    sign_in(page, ui_world, "root")
    page.goto("/ui/nodes")
    page.click(f"#node-table tr[data-node='{idle}'] button.release")
    expect(page).to_have_url(f"{ui_world.url}/ui/nodes")
    request = noderegistry.pending_release(ui_world.settings.shared_root, idle)
    assert request is not None and request["by"] == "root"
