"""Sign-in, the task list with live status, a task's page with its live log, cancel/resubmit."""

from __future__ import annotations

import time

import httpx
from playwright.sync_api import expect

from tests.ui.conftest import shot, sign_in


def test_sign_in_gives_an_httponly_strict_expiring_cookie_and_sign_out_ends_it(page, ui_world):  # noqa: ANN001
    page.goto("/ui/tasks")
    expect(page).to_have_url(f"{ui_world.url}/ui/login?next=%2Fui%2Ftasks")
    page.fill("input[name=token]", "argus_not-a-real-token")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("the API token is not valid")
    shot(page, "login-refused")

    sign_in(page, ui_world, "alice")
    expect(page).to_have_url(f"{ui_world.url}/ui/tasks")
    expect(page.locator("#me-name")).to_have_text("alice")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["argus_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert time.time() < session["expires"] <= time.time() + ui_world.settings.ui_session_seconds + 5
    assert ui_world.tokens["alice"] not in str(cookies)  # never the token itself
    assert "argus_session" not in page.evaluate("document.cookie")  # scripts cannot read it

    page.click("#sign-out")
    expect(page).to_have_url(f"{ui_world.url}/ui/login")
    page.goto("/ui/tasks")
    expect(page).to_have_url(f"{ui_world.url}/ui/login?next=%2Fui%2Ftasks")


def test_a_form_post_without_the_csrf_token_is_refused(page, ui_world):  # noqa: ANN001
    sign_in(page, ui_world, "alice")
    task = ui_world.client("alice").post("/v1/tasks", json=ui_world.spec("alice", name="csrf-probe")).json()
    forged = page.request.post(f"/ui/tasks/{task['id']}/cancel", form={"csrf": "guessed"})
    assert forged.status == 403
    missing = page.request.post(f"/ui/tasks/{task['id']}/cancel", form={})
    assert missing.status == 403
    assert ui_world.client("alice").get(f"/v1/tasks/{task['id']}").json()["status"] != "CANCELLED"
    # the real form (with the session's token) works
    page.goto(f"/ui/tasks/{task['id']}")
    page.click("#cancel")
    expect(page.locator("#t-status")).to_contain_text("CANCEL")


def _wait_status(world, task_id: int, status: str, timeout: float = 20.0) -> dict:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = world.client("root").get(f"/v1/tasks/{task_id}").json()
        if task["status"] == status:
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} is {task['status']}, not {status}")


def test_task_list_updates_live_and_the_task_page_streams_its_log(page, ui_world):  # noqa: ANN001
    sign_in(page, ui_world, "alice")
    page.goto("/ui/tasks")
    task = ui_world.client("alice").post("/v1/tasks", json=ui_world.spec("alice", name="live-one")).json()
    row = page.locator(f"#task-table tr[data-id='{task['id']}']")
    expect(row).to_contain_text("live-one", timeout=10_000)  # appears without a reload
    expect(row).to_contain_text("RUNNING", timeout=15_000)
    shot(page, "tasks")

    sid = _wait_status(ui_world, task["id"], "RUNNING")["submission_id"]
    log = ui_world.ray.log_dir / f"{sid}.log"
    log.write_text("step 1 loss 2.31\n")
    row.locator("a").first.click()
    expect(page.locator("#t-status")).to_contain_text("RUNNING")
    expect(page.locator("#log")).to_contain_text("step 1 loss 2.31", timeout=10_000)
    with log.open("a") as out:
        out.write("step 2 loss 1.87\n")
    expect(page.locator("#log")).to_contain_text("step 2 loss 1.87", timeout=10_000)  # streamed
    expect(page.locator("#t-events")).to_contain_text("submitted to Ray")
    expect(page.locator("#t-attempt-table")).to_contain_text(sid)
    shot(page, "task-running")

    ui_world.ray.jobs[sid] = "SUCCEEDED"
    expect(page.locator("#t-status")).to_contain_text("SUCCEEDED", timeout=15_000)
    expect(page.locator("#log")).to_contain_text("--- end of log ---", timeout=10_000)
    expect(page.locator("#resubmit")).to_be_visible(timeout=10_000)
    page.click("#resubmit")
    expect(page.locator("h1")).to_contain_text("live-one")
    assert page.url != f"{ui_world.url}/ui/tasks/{task['id']}"
    new_id = int(page.url.rsplit("/", 1)[1])
    assert ui_world.client("alice").get(f"/v1/tasks/{new_id}").json()["resubmit_of"] == task["id"]


def _browserish(world) -> httpx.Client:  # noqa: ANN001
    """An HTTP client signed in to the UI as alice, as a browser would be (cookie session)."""
    client = httpx.Client(base_url=world.url, timeout=10)
    form = client.get("/ui/login")
    csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    client.post("/ui/login", data={"token": world.tokens["alice"], "csrf": csrf})
    return client


def test_the_log_stream_ends_when_the_browser_goes(ui_world):  # noqa: ANN001
    """The stream is async: other requests are answered while streams are open, and a client
    that leaves mid-stream stops the server reading Ray's log for it."""
    task = ui_world.client("alice").post("/v1/tasks", json=ui_world.spec("alice", name="leaver")).json()
    sid = _wait_status(ui_world, task["id"], "RUNNING")["submission_id"]
    (ui_world.ray.log_dir / f"{sid}.log").write_text("hello\n")
    clients = [_browserish(ui_world) for _ in range(3)]  # three tabs
    streams = [c.stream("GET", f"/ui/tasks/{task['id']}/log") for c in clients]
    opened = [s.__enter__() for s in streams]
    readers = [r.iter_text() for r in opened]  # kept: a dropped reader closes its response
    for response, chunks in zip(opened, readers):
        assert response.status_code == 200
        seen = next(chunks)
        while "hello" not in seen:
            seen += next(chunks)
    started = time.monotonic()
    assert ui_world.client("root").get("/healthz").status_code == 200
    assert time.monotonic() - started < 2.0
    before = ui_world.ray.log_reads[sid]
    time.sleep(3.0)
    assert ui_world.ray.log_reads[sid] - before >= 6  # three streams, about one read a second each
    for stream, client in zip(streams, clients):
        stream.__exit__(None, None, None)
        client.close()
    time.sleep(2.0)  # the server notices the closed connections
    after_close = ui_world.ray.log_reads[sid]
    time.sleep(3.0)
    assert ui_world.ray.log_reads[sid] == after_close, "a stream kept reading after its client left"
    assert ui_world.client("root").get(f"/v1/tasks/{task['id']}").json()["status"] == "RUNNING"


def test_the_task_list_filters_by_status_and_owner(page, ui_world):  # noqa: ANN001
    alice, bob = ui_world.client("alice"), ui_world.client("bob")
    ended = alice.post("/v1/tasks", json=ui_world.spec("alice", name="to-cancel")).json()
    alice.post(f"/v1/tasks/{ended['id']}/cancel")
    bob.post("/v1/tasks", json=ui_world.spec("bob", name="bobs-task"))
    sign_in(page, ui_world, "alice")
    page.select_option("#f-status", "CANCELLED")  # submits the filter form
    expect(page).to_have_url(f"{ui_world.url}/ui/tasks?status=CANCELLED&priority=&team=&owner=")
    statuses = page.locator("#task-table tbody tr td:nth-child(3)")
    expect(statuses.first).to_have_text("CANCELLED")
    assert set(statuses.all_inner_texts()) == {"CANCELLED"}
    assert f"/ui/tasks/{ended['id']}" in page.content()
    page.goto("/ui/tasks?owner=bob")
    expect(page.locator("#task-table tbody")).to_contain_text("bobs-task")
    owners = set(page.locator("#task-table tbody tr td:nth-child(7)").all_inner_texts())
    assert owners == {"bob"}
    page.wait_for_timeout(2500)  # a live refresh keeps the filter
    assert set(page.locator("#task-table tbody tr td:nth-child(7)").all_inner_texts()) == {"bob"}
