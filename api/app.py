"""The app factory: builds settings-dependent objects and wires the routers. Nothing at import."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from api import auth, errors
from api.context import AppContext
from api.routers import audit, files, identity, system, tasks
from argus import __version__
from argus.cluster import ClusterProvider
from argus.db.engine import Database
from argus.db.migrate import upgrade
from argus.scheduler.loop import Scheduler
from argus.services.prepare import Preparer
from argus.services.storage import Storage
from argus.settings import Settings
from argus.sftp.server import SftpServer


def create_app(
    settings: Settings,
    *,
    provider: ClusterProvider,
    db: Database | None = None,
    embed_scheduler: bool | None = None,
) -> FastAPI:
    db = db or Database(settings.database_url)
    upgrade(db)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    embed = settings.embed_scheduler if embed_scheduler is None else embed_scheduler
    scheduler = Scheduler(db, settings, provider) if embed else None
    storage = Storage(db, settings)
    storage.ensure_all()
    ctx = AppContext(settings, db, provider, Preparer(settings), scheduler, storage)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        sftp = SftpServer(settings, db, storage).start() if settings.sftp_port else None
        if scheduler is not None:
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()
            if sftp is not None:
                sftp.stop()

    app = FastAPI(title="Argus", version=__version__, lifespan=lifespan,
                  description="Queue, schedule and run training tasks as Ray Jobs.")
    app.state.ctx = ctx
    errors.install(app)
    auth.install(app)
    app.include_router(system.router)
    app.include_router(tasks.router)
    app.include_router(identity.router)
    app.include_router(audit.router)
    app.include_router(files.router)
    return app
