"""Access (teams, users, grants, tokens shown once, revocation) and the audit trail page."""

from __future__ import annotations

import csv
import io

from playwright.sync_api import expect

from tests.ui.conftest import shot, sign_in


def test_an_admin_creates_a_team_a_user_and_a_token_shown_once(page, browser, ui_world):  # noqa: ANN001
    sign_in(page, ui_world, "root")
    page.click("nav >> text=Access")
    page.fill("#form-team input[name=name]", "green")
    page.click("#form-team button[type=submit]")
    expect(page.locator("#admin-notice")).to_have_text("team green created")
    page.fill("#form-user input[name=name]", "gina")
    page.select_option("#form-user select[name=team]", "green")
    page.select_option("#form-user select[name=role]", "user")
    page.click("#form-user button[type=submit]")
    expect(page.locator("#admin-notice")).to_have_text("user gina created")

    page.select_option("#form-token select[name=user]", "gina")
    page.fill("#form-token input[name=name]", "laptop")
    page.fill("#form-token input[name=expires]", "30d")
    page.click("#form-token button[type=submit]")
    secret = page.locator("#token-secret").inner_text()
    assert secret.startswith("argus_")
    shot(page, "admin-token-once")
    page.goto("/ui/admin")
    assert secret not in page.content()  # shown once
    expect(page.locator("#token-table tr[data-token='gina/laptop']")).to_contain_text("active")

    row = page.locator("#user-table tr[data-user='gina']")
    row.locator("button.grant").click()
    expect(page.locator("#user-table tr[data-user='gina'] td.grants")).to_contain_text("task.logs")

    gina = browser.new_context(base_url=ui_world.url).new_page()
    gina.goto("/ui/login")
    gina.fill("input[name=token]", secret)
    gina.click("button[type=submit]")
    expect(gina.locator("#me-name")).to_have_text("gina")

    page.click("#token-table tr[data-token='gina/laptop'] button.revoke")
    expect(page.locator("#token-table tr[data-token='gina/laptop']")).to_contain_text("revoked")
    gina.goto("/ui/tasks")  # the revoked token ends gina's session at once
    expect(gina).to_have_url(f"{ui_world.url}/ui/login?next=%2Fui%2Ftasks")
    gina.context.close()


def test_a_user_manages_only_their_own_tokens_and_cannot_create_users(page, ui_world):  # noqa: ANN001
    sign_in(page, ui_world, "bob")
    page.goto("/ui/admin")
    expect(page.locator("#form-team")).to_have_count(0)
    expect(page.locator("#form-user")).to_have_count(0)
    expect(page.locator("#form-token")).to_contain_text("For yourself (bob)")
    users = {r.get_attribute("data-token").split("/")[0]
             for r in page.locator("#token-table tbody tr").all()}
    assert users == {"bob"}
    expect(page.locator("header nav")).not_to_contain_text("Audit")
    csrf = page.evaluate("document.querySelector('meta[name=csrf-token]').content")
    forged = page.request.post("/ui/admin/users", form={"csrf": csrf, "name": "mallory", "role": "admin"})
    assert forged.status == 403


def test_the_auditor_filters_verifies_and_exports_the_trail(page, ui_world):  # noqa: ANN001
    ui_world.client("root").post("/v1/teams", json={"name": "audited"})
    sign_in(page, ui_world, "audrey")
    expect(page).to_have_url(f"{ui_world.url}/ui/audit")  # an auditor lands on the trail
    expect(page.locator("header nav")).not_to_contain_text("Tasks")
    page.fill("#audit-filters input[name=action]", "team.create")
    page.click("#audit-filters button[type=submit]")
    rows = page.locator("#audit-table tbody tr")
    expect(rows.first).to_contain_text("team/audited")
    assert all("team.create" in r.inner_text() for r in rows.all())
    page.click("#verify")
    expect(page.locator("#chain")).to_contain_text("The chain holds")
    shot(page, "audit")
    with page.expect_download() as download:
        page.click("#export-csv")
    text = open(download.value.path()).read()
    table = list(csv.reader(io.StringIO(text)))
    assert "action" in table[0]
    actions = {row[table[0].index("action")] for row in table[1:]}
    assert actions == {"team.create"}
    assert any("team/audited" in ",".join(row) for row in table[1:])

    page.goto("/ui/audit?action=ui.login&user=audrey")  # signing in to the UI is on record too
    expect(page.locator("#audit-table tbody tr").first).to_contain_text("ui.login")
    expect(page.locator("#audit-table tbody tr").first).to_contain_text("ok")
