"""Hosts as Linux network namespaces on one bridge, for node-pool tests and the rejoin bench.

Each host gets its own namespace, a veth into a private bridge and an address in a random
10.x.y.0/24 that no route on this machine uses. The root namespace holds the bridge's address,
so an Argus server there reaches every host. Everything is removed by :meth:`NetLab.down`,
including processes still inside our namespaces (ours by construction).
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from argus.raynode import NodeProcess, spawn

REPO = Path(__file__).resolve().parents[2]


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=check)


def unavailable_reason() -> str | None:
    """Why namespaces cannot be used here, or None when they can."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root (run the cluster tests as root)"
    name = f"a3probe{secrets.token_hex(2)}"
    try:
        made = _ip("netns", "add", name, check=False)
    except FileNotFoundError:
        return "the `ip` tool (iproute2) is not installed"
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    _ip("netns", "del", name, check=False)
    return None


@dataclass
class Host:
    name: str
    netns: str
    ip: str
    outer: str = ""  # its veth end on the bridge, in the root namespace
    procs: list[NodeProcess] = field(default_factory=list)


@dataclass
class NetLab:
    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    hosts: dict[str, Host] = field(default_factory=dict)
    prefix: str = ""

    @property
    def bridge(self) -> str:
        return f"a3br{self.tag}"

    @property
    def gateway(self) -> str:
        return f"{self.prefix}.1"

    def up(self) -> NetLab:
        routes = _ip("route").stdout
        for _ in range(50):
            prefix = f"10.{random.randint(150, 249)}.{random.randint(0, 255)}"
            if f"{prefix}." not in routes:
                break
        self.prefix = prefix
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        return self

    def add_host(self, name: str) -> Host:
        index = len(self.hosts) + 2
        netns, outer, inner = f"a3{self.tag}{name}", f"a3v{self.tag}{index}", f"a3p{self.tag}{index}"
        ip = f"{self.prefix}.{index}"
        _ip("netns", "add", netns)
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", outer, "master", self.bridge, "up")
        _ip("link", "set", inner, "netns", netns)
        _ip("-n", netns, "addr", "add", f"{ip}/24", "dev", inner)
        _ip("-n", netns, "link", "set", inner, "up")
        _ip("-n", netns, "link", "set", "lo", "up")
        _ip("-n", netns, "route", "add", "default", "via", self.gateway)
        host = Host(name, netns, ip, outer)
        self.hosts[name] = host
        return host

    def set_link(self, host: Host, up: bool) -> None:
        """Unplug (or plug back) the host's cable: its veth end on the bridge goes down (up)."""
        _ip("link", "set", host.outer, "up" if up else "down")

    def start(self, host: Host, module: str, args: list[str], env: dict[str, str], log: Path) -> NodeProcess:
        proc = spawn([sys.executable, "-m", module, *args], env=env, log_path=log, netns=host.netns)
        host.procs.append(proc)
        return proc

    def start_raw(self, host: Host, argv: list[str], env: dict[str, str], log: Path) -> NodeProcess:
        proc = spawn(argv, env=env, log_path=log, netns=host.netns)
        host.procs.append(proc)
        return proc

    def kill_host(self, host: Host) -> None:
        """Power cut: SIGKILL every process inside the host's namespace, until none is left."""
        deadline = time.monotonic() + 30
        while self.pids(host) and time.monotonic() < deadline:
            for pid in self.pids(host):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
        for proc in host.procs:
            try:
                proc.popen.wait(10)
            except subprocess.TimeoutExpired:
                pass
        host.procs.clear()

    @staticmethod
    def pids(host: Host) -> list[int]:
        out = _ip("netns", "pids", host.netns, check=False).stdout.split()
        return [int(p) for p in out if p.isdigit()]

    def down(self) -> None:
        for host in self.hosts.values():
            for proc in host.procs:
                proc.stop(timeout=10)
            self.kill_host(host)
            _ip("netns", "del", host.netns, check=False)
        _ip("link", "del", self.bridge, check=False)


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
