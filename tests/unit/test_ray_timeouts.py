"""Every Ray call has a timeout: a dashboard that accepts connections and never answers (a hung
head, a half-open link) gives RayUnavailable after ``timeout_s``, not a scheduler tick stuck forever."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from argus.errors import JobAlreadyExists, JobNotFound, JobRejected, RayUnavailable
from argus.ray_adapter import RayCluster, _translate


@pytest.fixture
def silent_dashboard():
    """A real TCP listener that accepts and then says nothing."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize("call", ["list_jobs", "nodes", "pending_placement_groups"])
def test_a_silent_dashboard_is_unavailable_within_the_timeout(silent_dashboard, call):
    cluster = RayCluster(silent_dashboard, timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(RayUnavailable):
        getattr(cluster, call)()
    assert time.monotonic() - started < 10  # a call without a timeout would hang here forever


def test_status_stop_and_logs_time_out_too(silent_dashboard):
    cluster = RayCluster(silent_dashboard, timeout_s=0.5)
    for call in (cluster.status, cluster.stop, cluster.logs):
        started = time.monotonic()
        with pytest.raises(RayUnavailable):
            call("argus-x-1-1")
        assert time.monotonic() - started < 10


@pytest.mark.parametrize(("exc", "kind"), [
    # What Ray's SDK raises (dashboard_sdk._raise_error, requests), typed once in the adapter.
    (RuntimeError("Request failed with status code 503: Service Unavailable."), RayUnavailable),
    (RuntimeError("Request failed with status code 500: Internal Server Error."), RayUnavailable),
    (RuntimeError("Request failed with status code 500: Job with submission_id argus-a-1-1 already exists."),
     JobAlreadyExists),
    (RuntimeError("Request failed with status code 400: runtime_env field 'pip' is invalid."), JobRejected),
    (RuntimeError("Request failed with status code 404: Job argus-a-1-1 does not exist."), JobNotFound),
    (ConnectionError("Failed to connect to Ray at address: http://10.0.0.1:8265."), RayUnavailable),
    (TimeoutError("timed out"), RayUnavailable),
])
def test_ray_errors_are_typed_transient_or_permanent(exc, kind):
    err = _translate(exc, "submit argus-a-1-1")
    assert type(err) is kind and "submit argus-a-1-1" in err.message
