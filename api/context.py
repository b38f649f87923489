"""What the routers need, built once by the app factory and kept on ``app.state``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from argus.cluster import ClusterProvider
from argus.db.engine import Database
from argus.control.loop import Scheduler
from argus.metrics.server import ServerMetrics
from argus.services.identity import Principals
from argus.services.prepare import Preparer
from argus.services.storage import Storage
from argus.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    db: Database
    provider: ClusterProvider
    preparer: Preparer
    metrics: ServerMetrics
    scheduler: Scheduler | None = None
    storage: Storage | None = None
    principals: Principals = field(init=False)
    wake_elsewhere: Callable[[], None] | None = None  # a worker of --api-workers: wake worker 0's loop

    def __post_init__(self) -> None:
        self.principals = Principals(self.db, recheck_s=self.settings.auth_recheck_seconds)

    def wake_scheduler(self) -> None:
        """A new task or a cancel: the embedded loop looks now, not at its next tick; in another
        worker of this server, through the supervisor's wake pipe. (A loop in another server or
        ``argus scheduler`` sees it at its next tick, reading the database.)"""
        if self.scheduler is not None:
            self.scheduler.wake()
        elif self.wake_elsewhere is not None:
            self.wake_elsewhere()


def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx


async def context_of(request: Request) -> AppContext:
    """:func:`get_ctx` as a route dependency (``Depends(context_of)``): async, so FastAPI calls
    it on the event loop; a plain function dependency costs a worker-thread hop per request."""
    return request.app.state.ctx


Ctx = Annotated[AppContext, Depends(context_of)]  # a route's parameter: ``ctx: Ctx``
