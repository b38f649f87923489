"""The file browser at /ui/files in a real Chromium: browse, upload, mkdir, download, delete;
a viewer is offered no writes; another team's user sees none of it."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.ui.conftest import UiWorld, shot, sign_in


def test_browse_upload_download_delete(page, ui_world: UiWorld, tmp_path: Path):  # noqa: ANN001
    sign_in(page, ui_world, "alice")
    page.click("header nav >> text=Files")
    expect(page.locator("#file-table")).to_contain_text("team/")
    expect(page.locator("#usage")).to_contain_text("team red:")
    page.fill("#mkdir-form input[name=name]", "runs")
    page.click("#mkdir-form button")
    expect(page.locator("#done")).to_contain_text("created runs/")
    page.click("#file-table >> text=runs/")
    local = tmp_path / "train.py"
    local.write_text("print('from the browser')\n")
    page.set_input_files("#upload-input", str(local))
    page.click("#upload-form button")
    expect(page.locator("#done")).to_contain_text("uploaded train.py")
    on_disk = ui_world.settings.shared_root / "users" / "alice" / "runs" / "train.py"
    assert on_disk.read_text() == "print('from the browser')\n"
    with page.expect_download() as info:
        page.click("#file-table >> text=train.py")
    assert Path(info.value.path()).read_text() == "print('from the browser')\n"
    shot(page, "files-alice")
    page.click("tr[data-name='train.py'] button.delete")
    expect(page.locator("#done")).to_contain_text("deleted /runs/train.py")
    assert not on_disk.exists()
    trail = ui_world.client("audrey").get("/v1/audit", params={"user": "alice"}).text
    assert "/runs/train.py" in trail


def test_a_viewer_is_offered_no_writes_and_teams_stay_apart(page, ui_world: UiWorld):  # noqa: ANN001
    team_file = ui_world.settings.shared_root / "teams" / "red" / "red-only.txt"
    team_file.write_text("red")
    sign_in(page, ui_world, "vera")
    page.goto("/ui/files?path=/team")
    expect(page.locator("#file-table")).to_contain_text("red-only.txt")
    assert page.locator("#upload-form").count() == 0 and page.locator("button.delete").count() == 0
    shot(page, "files-viewer")
    page.context.clear_cookies()
    sign_in(page, ui_world, "carol")
    page.goto("/ui/files?path=/team")
    expect(page.locator("#file-table")).not_to_contain_text("red-only.txt")
    page.goto("/ui/files?path=/team/../../red")
    expect(page.locator("body")).to_contain_text("contains '..'")
