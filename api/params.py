"""Bounded path and query parameters shared by the API and the web UI.

Ids are 64-bit in every database Argus runs on: a larger number names nothing, and is a 422
here rather than an integer overflow (a 500) in the driver."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_ID = 2**63 - 1
MAX_ATTEMPT = 1_000_000
TaskId = Annotated[int, Path(ge=1, le=MAX_ID, description="A task id")]
Attempt = Annotated[int | None, Query(ge=1, le=MAX_ATTEMPT, description="An attempt number")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]
