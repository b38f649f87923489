"""Bounded path and query parameters shared by the API and the web UI.

Ids are 64-bit in every database Argus runs on: a larger number names nothing, and is a 422
here rather than an integer overflow (a 500) in the driver."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

MAX_ID = 2**63 - 1
MAX_ATTEMPT = 1_000_000
TaskId = Annotated[int, Path(ge=1, le=MAX_ID, description="A task id")]
Attempt = Annotated[int | None, Query(ge=1, le=MAX_ATTEMPT, description="An attempt number")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]


def _task_cursor(value: object) -> object:
    """The ``after`` cursor: a task id, said plainly when it is not one (FastAPI's own words
    would not say where a good one comes from)."""
    text = str(value).strip()
    if text.isascii() and text.isdigit() and len(text) <= 19 and 1 <= int(text) <= MAX_ID:
        return int(text)
    raise PydanticCustomError(
        "cursor", "{value} is not a task id; pass the next_after of the previous page (a task id "
        "from 1 to 2^63-1), or leave after out for the first page", {"value": repr(value)[:40]})


After = Annotated[Annotated[int, Field(ge=1, le=MAX_ID)] | None, BeforeValidator(_task_cursor),
                  Query(description="Keyset cursor: the previous page's `next_after`; "
                        "the page starts with the next older task after that id")]
