"""Process logging: text or JSON lines, chosen by ARGUS_LOG_FORMAT.

A JSON line carries ``task_id`` and ``attempt`` (from ``extra=`` or read from the scheduler's
"task N attempt M:" prefix), the API's ``request_id`` (a context variable the request-id
middleware sets) and, in a worker agent, ``node``. Log shippers (deploy/logging/) index on them.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("argus_request_id", default="")
_TASK = re.compile(r"^task (\d+)(?: attempt (\d+))?\b")
FIELDS = ("task_id", "attempt", "request_id", "node")


class JsonFormatter(logging.Formatter):
    def __init__(self, node: str = ""):
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        body = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": message,
        }
        match = _TASK.match(message)
        if match:
            body["task_id"] = int(match[1])
            if match[2]:
                body["attempt"] = int(match[2])
        for key in FIELDS:
            value = getattr(record, key, None)
            if value not in (None, ""):
                body[key] = value
        if "request_id" not in body and request_id.get():
            body["request_id"] = request_id.get()
        if self.node and "node" not in body:
            body["node"] = self.node
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return json.dumps(body)


def setup(level: str = "INFO", fmt: str = "text", *, node: str = "") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter(node))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
