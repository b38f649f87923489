"""``argus scheduler``: the scheduler loop as its own process."""

from __future__ import annotations

import signal
import threading

import click

from argus import logsetup
from argus.cluster import HeadRecordCluster, StaticCluster
from argus.db.engine import Database
from argus.db.migrate import upgrade
from argus.control.loop import Scheduler
from argus.services.policy import seed_policy
from argus.settings import Settings, load_settings


def make_provider(settings: Settings):  # noqa: ANN201
    """With a shared root: follow its head record (ARGUS_RAY_ADDRESS until one appears)."""
    static = StaticCluster(settings.ray_address, timeout_s=settings.ray_timeout_s)
    if settings.shared_root is None:
        return static
    return HeadRecordCluster(settings.shared_root, fallback=static, timeout_s=settings.ray_timeout_s)


@click.command("scheduler")
def scheduler_cmd() -> None:
    """Run the scheduler loop alone (when the API runs without --embedded scheduler)."""
    settings = load_settings()
    logsetup.setup(settings.log_level, settings.log_format)
    db = Database(settings.database_url)
    upgrade(db)
    seed_policy(db, settings)
    scheduler = Scheduler(db, settings, make_provider(settings))
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: (scheduler.stop(0), done.set()))
    scheduler.start()
    done.wait()
    scheduler.stop()
