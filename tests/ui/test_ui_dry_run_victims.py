"""The submit page's dry run names the tasks a realtime task would preempt."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import UiWorld, serve_ui, shot, sign_in


@pytest.fixture(scope="module")
def ui_world(tmp_path_factory) -> Iterator[UiWorld]:  # noqa: ANN001
    yield from serve_ui(tmp_path_factory.mktemp("ui-victims"), min_runtime_seconds=0,
                        preempt_cooldown_seconds=0)


def test_the_dry_run_shows_the_would_be_victims(page, ui_world):  # noqa: ANN001
    spec = ui_world.spec("bob", name="batch-holder", priority="batch",
                         resources={"nodes": 1, "cpus": 1, "gpus_per_node": "8(H100)"})
    victim = ui_world.client("bob").post("/v1/tasks", json=spec).json()["id"]
    deadline = time.monotonic() + 20
    while ui_world.client("root").get(f"/v1/tasks/{victim}").json()["status"] != "RUNNING":
        assert time.monotonic() < deadline, "the batch task did not start"
        time.sleep(0.1)
    sign_in(page, ui_world, "alice")
    page.goto("/ui/submit")
    page.fill("#yaml", f"kind: custom\nname: market-open\npriority: realtime\n"
                       f"code: {ui_world.workspace('alice')}\ncommand: [python, risk.py]\n"
                       "resources: {nodes: 1, cpus: 1, gpus_per_node: 8(H100)}\n")
    expect(page.locator("#v-state")).to_have_text("valid", timeout=10_000)
    expect(page.locator("#dr-victims")).to_have_text(f"task {victim}")
    expect(page.locator(f"#dr-victims a[href='/ui/tasks/{victim}']")).to_be_visible()
    expect(page.locator("#dr-decision")).not_to_contain_text("would start now")
    shot(page, "submit-victims")
    assert ui_world.client("root").get(f"/v1/tasks/{victim}").json()["status"] == "RUNNING"  # a dry run
