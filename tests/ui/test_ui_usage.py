"""The usage page: the same report as `argus report`, charts as inline SVG, scoped to the team."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from argus.db.models import Attempt, Task
from tests.ui.conftest import UiWorld, shot, sign_in


def _ran(world: UiWorld, task_id: int, team: str, owner: str, gpus: float, hours_ago: float, hours: float) -> None:
    now = time.time()
    start, end = now - hours_ago * 3600, now - (hours_ago - hours) * 3600
    with world.db.write() as session:
        session.add(Task(id=task_id, name=f"u{task_id}", kind="custom", priority="batch", team=team, owner=owner,
                         status="SUCCEEDED", reason="", spec={}, spec_text="", checkpoint_dir="/x", nodes=1,
                         gpus_per_node=gpus, cpus_per_node=1, created_at=start - 60, updated_at=end,
                         queued_at=start - 60, finished_at=end, attempts=1))
        session.flush()
        session.add(Attempt(task_id=task_id, number=1, submission_id=f"argus-u-{task_id}-1", status="SUCCEEDED",
                            created_at=start - 1, started_at=start, ended_at=end))


def test_usage_page_shows_the_teams_gpu_hours_with_svg_charts(page, ui_world: UiWorld) -> None:  # noqa: ANN001
    _ran(ui_world, 7001, "red", "alice", 4, hours_ago=3, hours=1)  # 4 GPU-hours, waited 60 s
    _ran(ui_world, 7002, "blue", "carol", 8, hours_ago=2, hours=1)
    sign_in(page, ui_world, "tadmin")
    page.click("nav >> text=Usage")
    expect(page.locator("#usage-table")).to_be_visible()
    red = page.locator("#usage-table tr[data-group=red]")
    expect(red.locator(".gpu-hours")).to_have_text("4.0")
    expect(page.locator("#usage-table tr[data-group=blue]")).to_have_count(0)  # another team's usage
    assert page.locator("#usage-bars svg rect").count() == 1 and page.locator("#usage-lines svg polyline").count() == 1
    page.select_option("select[name=window]", "1d")
    page.select_option("select[name=by]", "user")
    page.click("#usage-form button[type=submit]")
    expect(page.locator("#usage-table tr[data-group=alice] .gpu-hours")).to_have_text("4.0")
    shot(page, "usage")
    page.goto("/ui/usage?window=7d&by=nonsense")  # a bad grouping: an error page, not a 500
    expect(page.locator("body")).to_contain_text("is not a grouping")
