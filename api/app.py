"""The app factory: builds settings-dependent objects and wires the routers. Nothing at import."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from api import errors, ui
from api.auth import AuditTrail
from api.context import AppContext
from api.middleware import BodyLimit, RequestContext
from api.noise import NoiseGate
from api.observe import Timing
from api.routers import (audit, cluster, files, identity, metrics, nodes, ops, policy, reports, secrets, snapshots,
                         system, tasks, verl)
from argus import __version__
from argus.cluster import ClusterProvider
from argus.db.engine import Database
from argus.db.migrate import upgrade
from argus.control.loop import Scheduler
from argus.metrics.server import ServerMetrics
from argus.services.policy import PolicySource, seed_policy
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
    primary: bool = True,
) -> FastAPI:
    """The app of one API process. ``primary``: the only (or first) worker of a server; it alone
    serves SFTP (a port of its own) — the other workers of ``--api-workers`` serve HTTP only."""
    db = db or Database(settings.database_url, write_queue=settings.sqlite_write_queue,
                       group_commit=settings.group_commit)
    upgrade(db)
    seed_policy(db, settings)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    embed = settings.embed_scheduler if embed_scheduler is None else embed_scheduler
    storage = Storage(db, settings)
    storage.ensure_all()
    preparer = Preparer(settings, PolicySource(settings, db))  # the one policy of this process
    scheduler = Scheduler(db, settings, provider, preparer=preparer) if embed else None
    server_metrics = ServerMetrics(db, settings, provider, scheduler_state=_scheduler_state(scheduler),
                                   policy=preparer.policy)
    ctx = AppContext(settings, db, provider, preparer, server_metrics, scheduler, storage)
    if scheduler is not None:
        scheduler.on_tick = server_metrics.tick.observe

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        sftp = SftpServer(settings, db, storage).start() if settings.sftp_port and primary else None
        if scheduler is not None:
            scheduler.start()
        server_metrics.start()
        try:
            yield
        finally:
            server_metrics.stop()
            if scheduler is not None:
                scheduler.stop()
            if sftp is not None:
                sftp.stop()

    app = FastAPI(title="Argus", version=__version__, lifespan=lifespan,
                  description="Queue, schedule and run training tasks as Ray Jobs.")
    app.state.ctx = ctx
    errors.install(app)
    # Plain ASGI, outermost added last: ids and source, the timing (it times the audit
    # write too), the body limit, the audit trail.
    app.add_middleware(AuditTrail, db=db, gate=NoiseGate(settings.audit_noise_per_minute))
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, uploads=_upload_limits(settings))
    app.add_middleware(Timing, metrics=server_metrics)
    app.add_middleware(RequestContext, trusted_proxies=settings.trusted_proxies)
    app.include_router(system.router)
    app.include_router(tasks.router)
    app.include_router(identity.router)
    app.include_router(audit.router)
    app.include_router(files.router)
    app.include_router(snapshots.router)
    app.include_router(cluster.router)
    app.include_router(secrets.router)
    app.include_router(policy.router)
    app.include_router(metrics.router)
    app.include_router(nodes.router)
    app.include_router(reports.router)
    app.include_router(ops.router)
    app.include_router(verl.router)
    ui.install(app, settings, db)
    return app


def _scheduler_state(scheduler: Scheduler | None):  # noqa: ANN202
    if scheduler is None:
        return None
    return lambda: {"healthy": scheduler.healthy(), "last_tick": scheduler.last_tick}


def _upload_limits(settings: Settings) -> tuple[tuple[str, int], ...]:
    """The routes that stream big bodies to disk, with the bounds they enforce themselves."""
    snapshot = settings.snapshot_max_bytes + max(1 << 20, settings.snapshot_max_bytes // 10)
    return (("/v1/fs/content", settings.upload_chunk_max_bytes), ("/v1/snapshots/", snapshot))
