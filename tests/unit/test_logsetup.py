"""JSON log lines carry the task, attempt, request and node ids a log shipper indexes on."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import yaml

from argus import logsetup

REPO = Path(__file__).resolve().parents[2]


def line(msg: str, *args, formatter: logsetup.JsonFormatter | None = None, **extra) -> dict:  # noqa: ANN002, ANN003
    record = logging.LogRecord("argus.control.reconcile", logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return json.loads((formatter or logsetup.JsonFormatter()).format(record))


def test_scheduler_lines_carry_task_and_attempt() -> None:
    body = line("task %s attempt %s: %s -> %s (%s)", 12, 2, "RUNNING", "QUEUED", "preempted")
    assert (body["task_id"], body["attempt"], body["level"]) == (12, 2, "INFO")
    assert body["msg"] == "task 12 attempt 2: RUNNING -> QUEUED (preempted)"
    assert "task_id" not in line("cannot list Ray nodes: gone")
    assert line("whatever", task_id=7)["task_id"] == 7


def test_request_id_and_node() -> None:
    token = logsetup.request_id.set("abc123")
    try:
        assert line("GET /v1/tasks")["request_id"] == "abc123"
    finally:
        logsetup.request_id.reset(token)
    assert "request_id" not in line("no request here")
    assert line("raylet started", formatter=logsetup.JsonFormatter("gpu-7"))["node"] == "gpu-7"


def test_the_shipping_config_parses_and_keeps_the_ids() -> None:
    config = yaml.safe_load((REPO / "deploy" / "logging" / "vector.yaml").read_text())
    assert set(config["sinks"]) == {"elasticsearch", "loki"}
    assert all(sink["inputs"] == ["argus_json"] for sink in config["sinks"].values())
    assert "parse_json" in config["transforms"]["argus_json"]["source"]
    assert {"task_id", "attempt", "request_id", "node"} == set(logsetup.FIELDS)
