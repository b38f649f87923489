"""GET /metrics with several API worker processes sharing one PROMETHEUS_MULTIPROC_DIR and one
database: whichever worker is scraped, the counts are the sums over every worker, each family
appears once, a queue wait is counted once, and the scheduler's gauges come from worker 0."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from argus.metrics.multiproc import scheduler_state
from argus.metrics.server import process_exited
from argus.raynode import free_port
from tests.api.conftest import build_world
from tests.api.test_metrics import SPEC, samples, value

REPO = Path(__file__).resolve().parents[2]


def start_worker(root: Path, shared: Path, index: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared), "ARGUS_API_WORKER_INDEX": str(index)}
    log = open(root / f"worker{index}.log", "w")  # noqa: SIM115 - the child holds it
    proc = subprocess.Popen([sys.executable, "-m", "tests.api.metrics_worker", str(root), str(port)],
                            cwd=REPO, env=env, stdout=log, stderr=log, start_new_session=True)
    return proc, f"http://127.0.0.1:{port}"


def wait_up(proc: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"worker at {url} did not come up: {log.read_text()[-2000:]}")


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[list[subprocess.Popen], list[str], dict, Path]]:
    _settings, _db, tokens = build_world(tmp_path)
    shared = tmp_path / "prometheus"
    shared.mkdir(mode=0o700)
    started = [start_worker(tmp_path, shared, index) for index in (0, 1)]
    try:
        for index, (proc, url) in enumerate(started):
            wait_up(proc, url, tmp_path / f"worker{index}.log")
        yield [p for p, _ in started], [u for _, u in started], tokens, shared
    finally:
        for proc, _url in started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc, _url in started:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def scrape(url: str) -> str:
    resp = httpx.get(f"{url}/metrics", timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.text


def test_any_worker_answers_for_all_of_them(two_workers) -> None:
    procs, urls, tokens, shared = two_workers
    auth = {"Authorization": f"Bearer {tokens['alice']}"}
    created = httpx.post(f"{urls[1]}/v1/tasks", json=SPEC, headers=auth, timeout=30)
    assert created.status_code == 201, created.text
    for url, times in ((urls[0], 3), (urls[1], 2)):
        for _ in range(times):
            assert httpx.get(f"{url}/v1/tasks", headers=auth, timeout=30).status_code == 200
    # Worker 0's scheduler starts the task, its follower sees the start on its own timer: only
    # worker 1 is scraped while waiting.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if value(samples(scrape(urls[1])), "argus_task_wait_seconds_count", priority="batch"):
            break
        time.sleep(0.3)
    for url in urls:
        text = scrape(url)
        families = re.findall(r"^# TYPE (\S+)", text, re.MULTILINE)
        assert len(families) == len(set(families)), f"{url}: a family appears twice"
        found = samples(text)
        assert value(found, "argus_http_request_duration_seconds_count",
                     method="GET", route="/v1/tasks", status="200") == 5, url
        assert value(found, "argus_http_request_duration_seconds_count",
                     method="POST", route="/v1/tasks", status="201") == 1, url
        assert value(found, "argus_task_wait_seconds_count", priority="batch") == 1, url
        assert value(found, "argus_tasks", status="RUNNING", priority="batch", team="red") == 1, url
        assert value(found, "argus_scheduler_up") == 1, url
        assert time.time() - value(found, "argus_scheduler_last_tick_timestamp_seconds") < 20, url
        assert value(found, "argus_scheduler_tick_seconds_count") >= 1, url
        assert value(found, "argus_api_workers") == 2, url
    # The tick worker 0 published goes stale like the scheduler's own: up turns 0.
    assert scheduler_state(shared, 10.0)["healthy"] is True
    assert scheduler_state(shared, 10.0, now=time.time() + 60)["healthy"] is False
    # Worker 1 dies; the supervisor says so: it leaves the live count, its requests stay counted.
    os.killpg(procs[1].pid, signal.SIGKILL)
    procs[1].wait(10)
    assert value(samples(scrape(urls[0])), "argus_api_workers") == 2  # nobody told us yet
    process_exited(procs[1].pid, shared)
    found = samples(scrape(urls[0]))
    assert value(found, "argus_api_workers") == 1
    assert value(found, "argus_http_request_duration_seconds_count",
                 method="GET", route="/v1/tasks", status="200") == 5
