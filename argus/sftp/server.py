"""An SFTP server (paramiko) for Argus users: sign in with your user name and a registered key.

``argus server`` runs it beside the API when ``ARGUS_SFTP_PORT`` is set; ``argus sftp`` runs it
alone. Only public-key authentication, only the ``sftp`` subsystem (no shell, no exec, no port
forwarding). The host key is generated once (ed25519) and kept 0600 in
``<state dir>/sftp/ssh_host_ed25519_key``; at most ``ARGUS_SFTP_MAX_SESSIONS`` connections at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from argus.authz import Principal
from argus.db.engine import Database
from argus.services import keys
from argus.services.storage import Storage
from argus.settings import Settings
from argus.sftp.handler import ArgusSftp, Session

log = logging.getLogger(__name__)
AUTH_TIMEOUT_S = 30.0
BANNER_TIMEOUT_S = 30.0


def host_key(state_dir: Path) -> paramiko.PKey:
    """The server's host key: made once, then always the same (clients pin it)."""
    path = state_dir / "sftp" / "ssh_host_ed25519_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption())
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    return paramiko.Ed25519Key(filename=str(path))


class SshServer(paramiko.ServerInterface):
    """One connection's authentication: public keys registered with ``argus key add``."""

    def __init__(self, storage: Storage, source_ip: str):
        self.storage = storage
        self.source_ip = source_ip
        self.session: Session | None = None

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        fp = keys.fingerprint(key.asbytes())
        user = keys.user_for_key(self.storage.db, username, key.asbytes())
        if user is None:
            log.info("sftp: key %s refused for '%s' from %s", fp, username[:64], self.source_ip)
            self._audit(Principal(username[:64], "-", None), "denied", fp)
            return paramiko.AUTH_FAILED
        if self.session is None:  # OpenSSH asks once without a signature, then signs
            who = Principal(user.name, user.role, user.team, token_name=f"ssh:{fp[7:27]}")
            self.session = Session(self.storage, who, self.source_ip)
            self._audit(who, "ok", fp)
        return paramiko.AUTH_SUCCESSFUL

    def _audit(self, who: Principal, outcome: str, fp: str) -> None:
        self.storage.record(who, "sftp.login", f"user/{who.name}", outcome=outcome,
                            source_ip=self.source_ip, fingerprint=fp)

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class SftpServer:
    """Accepts connections on a thread; each connection runs its own paramiko transport."""

    def __init__(self, settings: Settings, db: Database, storage: Storage | None = None):
        self.settings = settings
        self.storage = storage or Storage(db, settings)
        self.key = host_key(settings.state_dir)
        self.host = settings.sftp_host or settings.host
        self.port = settings.sftp_port or 0
        self._sock: socket.socket | None = None
        self._slots = threading.BoundedSemaphore(settings.sftp_max_sessions)
        self._transports: set[paramiko.Transport] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> SftpServer:
        self._sock = socket.create_server((self.host, self.port), reuse_port=False)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name="argus-sftp", daemon=True)
        self._thread.start()
        log.info("SFTP on %s:%d (host key %s)", self.host, self.port,
                 keys.fingerprint(self.key.asbytes()))
        return self

    def request_stop(self) -> None:
        self._stopping.set()

    def serve_until_stopped(self) -> None:
        """Block until :meth:`request_stop` (a signal handler), then close everything."""
        try:
            while not self._stopping.wait(1.0):
                pass
        finally:
            self.stop()

    def stop(self) -> None:
        self._stopping.set()
        if self._sock is not None:
            self._sock.close()
        with self._lock:
            transports = list(self._transports)
        for transport in transports:
            transport.close()
        if self._thread is not None:
            self._thread.join(5)

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, addr = self._sock.accept()
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                log.warning("sftp: %d sessions open; refusing %s", self.settings.sftp_max_sessions,
                            addr[0])
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn, addr[0]), daemon=True,
                             name=f"argus-sftp-{addr[0]}").start()

    def _serve(self, conn: socket.socket, source_ip: str) -> None:
        transport = paramiko.Transport(conn)
        with self._lock:
            self._transports.add(transport)
        try:
            transport.banner_timeout = BANNER_TIMEOUT_S
            transport.auth_timeout = AUTH_TIMEOUT_S
            transport.add_server_key(self.key)
            transport.set_subsystem_handler("sftp", paramiko.SFTPServer, ArgusSftp)
            transport.start_server(server=SshServer(self.storage, source_ip))
            while transport.is_active() and not self._stopping.is_set():
                transport.join(1.0)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            log.info("sftp: connection from %s ended: %s", source_ip, exc)
        finally:
            transport.close()
            with self._lock:
                self._transports.discard(transport)
            self._slots.release()
