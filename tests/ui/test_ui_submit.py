"""Submit: server-side validation as you type (errors at the field path), the dry run, submit;
and what a viewer is (not) offered."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.ui.conftest import shot, sign_in


def _yaml(world, owner: str, resources: str) -> str:  # noqa: ANN001
    return (f"kind: custom\nname: from-the-editor\npriority: batch\ncode: {world.workspace(owner)}\n"
            f"command: [python, train.py]\nresources: {resources}\n")


def test_submit_shows_a_validation_error_at_its_path_then_the_dry_run_then_submits(page, ui_world):  # noqa: ANN001
    sign_in(page, ui_world, "alice")
    page.click("nav >> text=Submit")
    expect(page.locator("#v-state")).to_have_text("valid", timeout=10_000)  # the starter file
    expect(page.locator("#dr-decision")).to_contain_text("would start now")

    page.fill("#yaml", _yaml(ui_world, "alice", "{nodes: 1, cpus: 1, gpu_per_node: 1}"))
    issue = page.locator("#issues li").first
    expect(issue.locator("code.path")).to_have_text("resources.gpu_per_node", timeout=10_000)
    expect(issue).to_contain_text("did you mean 'gpus_per_node'")
    expect(issue).to_contain_text("line 6")
    expect(page.locator("#dry-run")).to_be_hidden()
    shot(page, "submit-invalid")

    page.fill("#yaml", _yaml(ui_world, "alice", "{nodes: 1, cpus: 1, gpus_per_node: 2}"))
    expect(page.locator("#v-state")).to_have_text("valid", timeout=10_000)
    expect(page.locator("#dr-entrypoint")).to_contain_text("train.py")
    expect(page.locator("#dr-decision")).to_contain_text("would start now on 1 node(s)")
    expect(page.locator("#dr-victims")).to_have_text("none")
    shot(page, "submit-dry-run")

    page.click("#submit")
    expect(page.locator("h1")).to_contain_text("from-the-editor")
    task_id = int(page.url.rsplit("/", 1)[1])
    task = ui_world.client("alice").get(f"/v1/tasks/{task_id}").json()
    assert task["owner"] == "alice" and task["team"] == "red"
    assert task["resources"]["gpus_per_node"] == 2


def test_submitting_a_bad_file_renders_the_errors_and_queues_nothing(page, ui_world):  # noqa: ANN001
    sign_in(page, ui_world, "alice")
    before = ui_world.client("root").get("/v1/tasks").json()["total"]
    page.goto("/ui/submit")
    page.fill("#yaml", _yaml(ui_world, "alice", "{nodes: 1, cpus: 1}").replace(
        str(ui_world.workspace("alice")), str(ui_world.workspace("carol"))))
    page.click("#submit")
    expect(page.locator("#issues code.path").first).to_have_text("code")
    expect(page.locator("#issues")).to_contain_text("outside the paths")
    assert ui_world.client("root").get("/v1/tasks").json()["total"] == before


def test_a_viewer_sees_tasks_and_logs_but_is_offered_no_submit_and_no_cancel(page, ui_world):  # noqa: ANN001
    task = ui_world.client("alice").post("/v1/tasks", json=ui_world.spec("alice", name="watched")).json()
    sign_in(page, ui_world, "vera")
    nav = page.locator("header nav")
    expect(nav).to_contain_text("Tasks")
    expect(nav).not_to_contain_text("Submit")
    expect(page.locator("a.button", has_text="New task")).to_have_count(0)

    page.goto(f"/ui/tasks/{task['id']}")
    expect(page.locator("h1")).to_contain_text("watched")
    expect(page.locator("#cancel")).to_have_count(0)
    expect(page.locator("#log")).to_be_visible()  # a viewer may read the team's logs
    shot(page, "viewer-task")

    csrf = page.evaluate("document.querySelector('meta[name=csrf-token]').content")
    forged = page.request.post(f"/ui/tasks/{task['id']}/cancel", form={"csrf": csrf})
    assert forged.status == 403
    assert ui_world.client("alice").get(f"/v1/tasks/{task['id']}").json()["status"] != "CANCELLED"
    page.goto("/ui/submit")
    expect(page.locator(".error")).to_contain_text("may not task.submit")


def test_another_teams_user_sees_none_of_it(page, ui_world):  # noqa: ANN001
    task = ui_world.client("alice").post("/v1/tasks", json=ui_world.spec("alice", name="red-only")).json()
    sign_in(page, ui_world, "carol")
    expect(page.locator("#task-table")).not_to_contain_text("red-only")
    page.goto(f"/ui/tasks/{task['id']}")
    expect(page.locator(".error")).to_contain_text("may not task.read")
    assert page.request.get(f"/ui/tasks/{task['id']}/log").status == 403
