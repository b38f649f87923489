"""UI tests: a real headless Chromium (Debian's, through Playwright) against the real app over
real HTTP (uvicorn on a loopback port) with a real SQLite file and the scheduler loop embedded.
Ray is faked at its boundary (tests/fakeray.py): its driver logs are a file the test appends to.

Screenshots go to .cache/screenshots/ (``shot(page, name)``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from tests.api.conftest import PEOPLE, World, build_world
from tests.conftest import REPO, ServerThread
from tests.fakeray import FakeProvider, FakeRay

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / ".cache" / "screenshots"


@dataclass
class LogRay(FakeRay):
    """FakeRay whose driver log of a job is a file under ``log_dir`` (``<submission id>.log``)."""

    log_dir: Path = field(default_factory=Path)
    log_reads: dict[str, int] = field(default_factory=dict)

    def logs(self, sid: str) -> str:
        super().logs(sid)  # JobNotFound for an unknown job, as Ray answers
        self.log_reads[sid] = self.log_reads.get(sid, 0) + 1
        path = self.log_dir / f"{sid}.log"
        return path.read_text() if path.exists() else ""


@dataclass
class UiWorld(World):
    ray: LogRay | None = None


def serve_ui(root: Path, **settings: Any) -> Iterator[UiWorld]:
    """The API world (two teams, a user per role) served with the scheduler loop embedded;
    ``settings``: overrides (e.g. team quotas)."""
    base, db, tokens = build_world(root)
    config = base.model_copy(update=settings)
    ray = LogRay(log_dir=root / "ray-logs")
    ray.log_dir.mkdir()
    app = create_app(config, provider=FakeProvider(ray), db=db, embed_scheduler=True)
    with ServerThread(app) as server:
        yield UiWorld(config, db, server.url, tokens, ray=ray)


@pytest.fixture(scope="module")
def ui_world(tmp_path_factory) -> Iterator[UiWorld]:  # noqa: ANN001
    yield from serve_ui(tmp_path_factory.mktemp("ui"))


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    if not CHROMIUM.exists():
        pytest.fail("the UI tests need Debian's chromium at /usr/bin/chromium: run `make browser` "
                    "(apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, ui_world):  # noqa: ANN001, ANN201
    """A fresh browser context (no cookies) that refuses any request leaving this server."""
    context = browser.new_context(base_url=ui_world.url, viewport={"width": 1360, "height": 900})
    outside: list[str] = []

    def guard(route) -> None:  # noqa: ANN001
        if route.request.url.startswith(ui_world.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    tab = context.new_page()
    tab.on("dialog", lambda dialog: dialog.accept())
    yield tab
    context.close()
    assert outside == [], f"the UI fetched from outside its server: {outside}"


def shot(page, name: str) -> Path:  # noqa: ANN001
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page, world: World, name: str) -> None:  # noqa: ANN001
    page.goto("/ui/login")
    page.fill("input[name=token]", world.tokens[name])
    page.click("button[type=submit]")
    page.wait_for_selector("#me-name")
    page_ready(page)


def page_ready(page) -> None:  # noqa: ANN001
    """Wait until argus.js has attached its handlers (it marks <html data-ready>).

    A selector appearing only means the HTML was parsed; the deferred script may not have run yet,
    and a change event fired before it does is lost."""
    page.wait_for_selector("html[data-ready]", state="attached")


__all__ = ["PEOPLE", "page_ready", "shot", "sign_in"]
