"""One API worker of several, for tests/api/test_metrics_workers.py: its own process, started
with PROMETHEUS_MULTIPROC_DIR and ARGUS_API_WORKER_INDEX in its environment (as the supervisor
of ``argus server --api-workers N`` starts them); worker 0 embeds the scheduler.

    python -m tests.api.metrics_worker ROOT PORT
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import uvicorn

from api.app import create_app
from argus.settings import Settings
from tests.fakeray import FakeProvider, FakeRay

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def main() -> None:
    root, port = Path(sys.argv[1]), int(sys.argv[2])
    settings = Settings(state_dir=root / "state", shared_root=root / "shared", tick_seconds=0.2,
                        shared_paths=[EXAMPLES])
    index = int(os.environ["ARGUS_API_WORKER_INDEX"])
    app = create_app(settings, provider=FakeProvider(FakeRay()), embed_scheduler=index == 0)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
