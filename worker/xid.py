"""Xid errors: read the kernel log (a file, the journal or /dev/kmsg) and NVML's Xid events.

The NVIDIA driver logs ``NVRM: Xid (PCI:0000:3b:00): 79, pid=…, GPU has fallen off the bus``.
Some Xids mean the GPU (or the node) can no longer be trusted with work — the fatal list,
:data:`FATAL_XIDS`, documented in docs/operations.md — and the agent quarantines its node
on one of those. The rest are counted (``argus_node_gpu_xid_errors_total``) and logged.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.gpustats import short_pci

log = logging.getLogger(__name__)

# Xid -> what it means (NVIDIA's Xid catalogue); all of these take the node out.
FATAL_XIDS: dict[int, str] = {
    48: "double-bit ECC error",
    61: "internal micro-controller breakpoint/warning",
    62: "internal micro-controller halt",
    63: "ECC page retirement or row remapping recording event",
    64: "ECC page retirement or row remapping failure",
    74: "NVLink error",
    79: "GPU has fallen off the bus",
    92: "high single-bit ECC error rate",
    94: "contained ECC error",
    95: "uncontained ECC error",
    119: "GSP RPC timeout",
    120: "GSP error",
    140: "unrecovered ECC error",
}

_XID = re.compile(r"NVRM: Xid \((?:PCI:)?(?P<pci>[0-9a-fA-F:.]+)\): (?P<xid>\d+)(?:,\s*(?P<rest>.*))?")


@dataclass(frozen=True)
class XidEvent:
    gpu: str  # short PCI address, 0000:3b:00
    xid: int
    detail: str = ""

    def describe(self) -> str:
        meaning = FATAL_XIDS.get(self.xid)
        return f"Xid {self.xid} on GPU {self.gpu}" + (f" ({meaning})" if meaning else "")


def parse_xid(line: str) -> XidEvent | None:
    match = _XID.search(line)
    if not match:
        return None
    return XidEvent(short_pci(match["pci"]), int(match["xid"]), (match["rest"] or "").strip()[:300])


def tail_file(path: Path, stop: threading.Event, poll: float = 0.5) -> Iterator[str]:
    """Lines appended to ``path`` from now on; follows a rotation (new inode) or a truncation.
    A file that does not exist yet is read from its first line once it appears."""
    handle, inode, existed = None, None, path.exists()
    while not stop.is_set():
        if handle is None:
            try:
                handle = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - kept open
                inode = os.fstat(handle.fileno()).st_ino
                if existed:  # history before the agent started is not acted on
                    handle.seek(0, os.SEEK_END)
                existed = False
            except OSError:
                handle = None
                existed = False
                stop.wait(poll)
                continue
        line = handle.readline()
        if line:
            yield line
            continue
        try:
            st = os.stat(path)
            if st.st_ino != inode or st.st_size < handle.tell():
                handle.close()
                handle = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115
                inode = os.fstat(handle.fileno()).st_ino
                continue  # a new file: read it from the start
        except OSError:
            pass
        stop.wait(poll)
    if handle is not None:
        handle.close()


def tail_command(argv: list[str], stop: threading.Event) -> Iterator[str]:
    """Lines a follower command prints (``journalctl -k -f``); it is ended when ``stop`` is set."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    killer = threading.Thread(target=lambda: (stop.wait(), proc.terminate()), daemon=True)
    killer.start()
    try:
        for line in proc.stdout or ():
            yield line
    finally:
        proc.terminate()
        proc.wait(5)


def kernel_log_source(xid_log: Path | None) -> tuple[str, Callable[[threading.Event], Iterator[str]]] | None:
    """Where to read the kernel log: the given file, else the journal, else /dev/kmsg, else None."""
    if xid_log is not None:
        return str(xid_log), lambda stop: tail_file(xid_log, stop)
    journalctl = shutil.which("journalctl")
    if journalctl and _readable_journal(journalctl):
        return "journal", lambda stop: tail_command([journalctl, "-k", "-f", "-n", "0", "-o", "cat"], stop)
    if os.access("/dev/kmsg", os.R_OK):
        return "/dev/kmsg", lambda stop: tail_kmsg(stop)
    return None


def _readable_journal(journalctl: str) -> bool:
    try:
        return subprocess.run([journalctl, "-k", "-n", "0", "-q"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):  # a hung or broken journal: try /dev/kmsg
        return False


def tail_kmsg(stop: threading.Event, poll: float = 0.5) -> Iterator[str]:
    """Records written to /dev/kmsg from now on (``prio,seq,ts,flags;message``)."""
    fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    try:
        os.lseek(fd, 0, os.SEEK_END)
        while not stop.is_set():
            try:
                record = os.read(fd, 8192).decode("utf-8", "replace")
            except BlockingIOError:
                stop.wait(poll)
                continue
            except OSError:  # EPIPE: records were overwritten before we read them
                continue
            yield record.split(";", 1)[-1]
    finally:
        os.close(fd)


def nvml_xid_events(nvml: Any, count: int, stop: threading.Event, pci_of: Callable[[Any], str],
                    wait_ms: int = 1000) -> Iterator[XidEvent]:
    """Xid critical-error events from NVML (where the driver supports event sets)."""
    events = nvml.nvmlEventSetCreate()
    try:
        for index in range(count):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            nvml.nvmlDeviceRegisterEvents(handle, nvml.nvmlEventTypeXidCriticalError, events)
        while not stop.is_set():
            try:
                data = nvml.nvmlEventSetWait(events, wait_ms)
            except nvml.NVMLError_Timeout:
                continue
            yield XidEvent(pci_of(data.device), int(data.eventData), "reported by NVML")
    finally:
        nvml.nvmlEventSetFree(events)


class XidWatcher:
    """Reads every source in its own thread and hands each Xid to ``on_xid`` (counted there)."""

    def __init__(self, on_xid: Callable[[XidEvent], None]):
        self.on_xid = on_xid
        self.sources: list[str] = []
        self._threads: list[threading.Thread] = []

    def watch_lines(self, name: str, lines: Callable[[threading.Event], Iterator[str]],
                    stop: threading.Event) -> None:
        def run() -> None:
            for line in lines(stop):
                event = parse_xid(line)
                if event is not None:
                    self.on_xid(event)
        self._start(name, run)

    def watch_events(self, name: str, events: Callable[[threading.Event], Iterator[XidEvent]],
                     stop: threading.Event) -> None:
        def run() -> None:
            try:
                for event in events(stop):
                    self.on_xid(event)
            except Exception as exc:  # noqa: BLE001 - NVMLError_NotSupported: the log still works
                log.info("NVML Xid events unavailable: %s", exc)
        self._start(name, run)

    def _start(self, name: str, run: Callable[[], None]) -> None:
        def guarded() -> None:
            while True:
                try:
                    run()
                    return
                except Exception:  # noqa: BLE001 - a source that breaks is restarted, not lost
                    log.exception("Xid source %s failed; restarting in 5 s", name)
                    time.sleep(5)
        thread = threading.Thread(target=guarded, name=f"argus-xid-{name}", daemon=True)
        thread.start()
        self.sources.append(name)
        self._threads.append(thread)
