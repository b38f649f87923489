"""HTTP client for the Argus API (used by the CLI, the tests and the benchmarks).

Built on the standard library's ``http.client`` so that a CLI command pays a few milliseconds to
import it, not the ~70 ms of a full HTTP library: ``argus status`` must answer at once. One
connection per request (the CLI makes one or two); streams (log follow, audit export) read
without a timeout once the response has started.
"""

from __future__ import annotations

import codecs
import http.client
import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from argus.errors import ArgusError, Unavailable

_STREAM_CHUNK = 64 * 1024


class ApiError(ArgusError):
    """An error answered by the server, in its one JSON error shape."""

    def __init__(self, status: int, code: str, message: str, details: list | None = None):
        super().__init__(message, details=details)
        self.http_status = status
        self.code = code


class Response:
    """A whole response: status, body text, JSON."""

    def __init__(self, status_code: int, body: bytes):
        self.status_code = status_code
        self.content = body

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class ArgusClient:
    def __init__(self, server: str, *, token: str | None = None, timeout: float = 30.0):
        self.server = server.rstrip("/")
        parts = urlsplit(self.server)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Unavailable(f"server URL {server!r} is not http(s)://host[:port]; "
                              "set --server or ARGUS_SERVER")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self._headers = {"User-Agent": "argus-cli", "Accept": "application/json"}
        token = token or os.environ.get("ARGUS_TOKEN")
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        """Nothing is held between requests; kept for callers that close their clients."""

    def _open(self, method: str, path: str, *, params: dict | None = None, json_body: Any = None,
              headers: dict | None = None, content: Any = None, timeout: float | None = None) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        url = quote(self._prefix + path, safe="/:@!$&'()*+,;=-._~") + (
            f"?{urlencode(query, doseq=True)}" if query else "")
        body = content if json_body is None else json.dumps(json_body).encode()
        all_headers = {**self._headers, **(headers or {})}
        if json_body is not None:
            all_headers["Content-Type"] = "application/json"
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = kind(self._host, self._port, timeout=timeout or self._timeout)
        try:
            conn.request(method, url, body=body, headers=all_headers)
            return conn, conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise Unavailable(
                f"cannot reach the Argus server at {self.server} ({type(exc).__name__}); "
                "is it running? set --server or ARGUS_SERVER"
            ) from exc

    def _fetch(self, method: str, path: str, **kwargs: Any) -> Response:
        conn, raw = self._open(method, path, **kwargs)
        try:
            return Response(raw.status, raw.read())
        except (OSError, http.client.HTTPException) as exc:
            raise Unavailable(f"lost the connection to {self.server} ({type(exc).__name__})") from exc
        finally:
            conn.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Response:
        response = self._fetch(method, path, **kwargs)
        if response.status_code >= 400:
            raise _api_error(response)
        return response

    def _stream(self, path: str, params: dict) -> Iterator[str]:
        """The body as text chunks while it arrives (no read timeout once it has started)."""
        conn, raw = self._open("GET", path, params=params)
        try:
            if raw.status >= 400:
                raise _api_error(Response(raw.status, raw.read()))
            if conn.sock is not None:
                conn.sock.settimeout(None)
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            while chunk := raw.read1(_STREAM_CHUNK):
                if text := decoder.decode(chunk):
                    yield text
            if tail := decoder.decode(b"", final=True):
                yield tail
        except (OSError, http.client.HTTPException) as exc:
            raise Unavailable(f"lost the connection to {self.server} while reading {path}") from exc
        finally:
            conn.close()

    def submit(self, spec: dict, *, source: str = "task.yaml", dry_run: bool = False,
               idempotency_key: str | None = None) -> dict:
        headers = {"X-Argus-Source": source}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return self._request("POST", "/v1/tasks", json_body=spec, headers=headers,
                             params={"dry_run": "true"} if dry_run else None).json()

    def list(self, **params: Any) -> dict:
        clean = {k: v for k, v in params.items() if v is not None}
        return self._request("GET", "/v1/tasks", params=clean).json()

    def get(self, task_id: int) -> dict:
        return self._request("GET", f"/v1/tasks/{task_id}").json()

    def events(self, task_id: int) -> list[dict]:
        return self._request("GET", f"/v1/tasks/{task_id}/events").json()["items"]

    def logs(self, task_id: int, attempt: int | None = None) -> str:
        params = {"attempt": attempt} if attempt else None
        return self._request("GET", f"/v1/tasks/{task_id}/logs", params=params).text

    def follow_logs(self, task_id: int, attempt: int | None = None) -> Iterator[str]:
        params: dict[str, Any] = {"follow": "true"}
        if attempt:
            params["attempt"] = attempt
        yield from self._stream(f"/v1/tasks/{task_id}/logs", params)

    def cancel(self, task_id: int) -> dict:
        return self._request("POST", f"/v1/tasks/{task_id}/cancel").json()

    def resubmit(self, task_id: int, *, fresh: bool = False) -> dict:
        return self._request("POST", f"/v1/tasks/{task_id}/resubmit",
                             params={"fresh": "true"} if fresh else None).json()

    def schema(self) -> dict:
        return self._request("GET", "/v1/schema").json()

    def verl_trees(self) -> dict:
        return self._request("GET", "/v1/verl/trees").json()

    # identity and audit
    def whoami(self) -> dict:
        return self._request("GET", "/v1/whoami").json()

    def create_team(self, name: str, description: str = "") -> dict:
        return self._request("POST", "/v1/teams", json_body={"name": name, "description": description}).json()

    def teams(self) -> list[dict]:
        return self._request("GET", "/v1/teams").json()["items"]

    def team(self, name: str) -> dict:
        return self._request("GET", f"/v1/teams/{name}").json()

    def nodes(self) -> dict:
        return self._request("GET", "/v1/nodes").json()

    def report(self, *, since: str, until: str | None, by: str, fmt: str) -> Response:
        return self._request("GET", "/v1/reports/usage",
                             params={"since": since, "until": until, "by": by, "format": fmt})

    def gc(self, *, apply: bool) -> dict:
        return self._request("POST", "/v1/gc", params={"apply": "true" if apply else "false"}).json()

    def pin(self, task_id: int, *, pinned: bool = True) -> dict:
        return self._request("POST" if pinned else "DELETE", f"/v1/tasks/{task_id}/pin").json()

    def doctor(self, task_id: int | None = None) -> dict:
        return self._request("GET", "/v1/doctor" if task_id is None else f"/v1/tasks/{task_id}/doctor").json()

    def release_node(self, name: str) -> dict:
        return self._request("POST", f"/v1/nodes/{name}/release").json()

    def create_user(self, name: str, *, team: str | None, role: str) -> dict:
        return self._request("POST", "/v1/users", json_body={"name": name, "team": team, "role": role}).json()

    def grant(self, user: str, action: str) -> dict:
        return self._request("POST", f"/v1/users/{user}/grants", json_body={"action": action}).json()

    def revoke_grant(self, user: str, action: str) -> dict:
        return self._request("DELETE", f"/v1/users/{user}/grants/{action}").json()

    def users(self) -> list[dict]:
        return self._request("GET", "/v1/users").json()["items"]

    def create_token(self, user: str, *, name: str | None = None, expires: str | None = None) -> dict:
        body = {"user": user, "name": name, "expires": expires}
        return self._request("POST", "/v1/tokens", json_body=body).json()

    def tokens(self, user: str | None = None) -> list[dict]:
        return self._request("GET", "/v1/tokens", params={"user": user} if user else None).json()["items"]

    def revoke_token(self, user: str, name: str) -> dict:
        return self._request("POST", f"/v1/tokens/{user}/{name}/revoke").json()

    def audit_export(self, **params: Any) -> Iterator[str]:
        yield from self._stream("/v1/audit", params)

    def audit_verify(self, anchor: dict | None = None) -> dict:
        params = {"anchor_entries": anchor["entries"], "anchor_hash": anchor["head_hash"]} if anchor else None
        return self._request("GET", "/v1/audit/verify", params=params).json()

    # files, SSH keys, storage (docs/data.md)
    def workspace(self) -> dict:
        return self._request("GET", "/v1/fs/workspace").json()

    def fs_list(self, path: str) -> dict:
        return self._request("GET", "/v1/fs/list", params={"path": path}).json()

    def fs_stat(self, path: str, *, sha256: bool = False) -> dict:
        params = {"path": path, "sha256": "true" if sha256 else "false"}
        return self._request("GET", "/v1/fs/stat", params=params).json()

    def fs_upload_offset(self, path: str) -> int:
        return self._request("GET", "/v1/fs/upload", params={"path": path}).json()["offset"]

    def fs_discard_upload(self, path: str) -> dict:
        return self._request("DELETE", "/v1/fs/upload", params={"path": path}).json()

    def fs_put(self, path: str, data: bytes, *, offset: int, final: bool,
               sha256: str | None = None) -> dict:
        params: dict[str, Any] = {"path": path, "offset": offset, "final": str(final).lower(),
                                  "sha256": sha256}
        return self._request("PUT", "/v1/fs/content", params=params, content=data,
                             headers={"Content-Type": "application/octet-stream"},
                             timeout=300.0 if final else None).json()

    def fs_download(self, path: str) -> Iterator[bytes]:
        conn, raw = self._open("GET", "/v1/fs/content", params={"path": path})
        try:
            if raw.status >= 400:
                raise _api_error(Response(raw.status, raw.read()))
            while chunk := raw.read1(_STREAM_CHUNK):
                yield chunk
        except (OSError, http.client.HTTPException) as exc:
            raise Unavailable(f"lost the connection to {self.server} while downloading {path}") from exc
        finally:
            conn.close()

    def fs_delete(self, path: str, *, recursive: bool = False) -> dict:
        params = {"path": path, "recursive": str(recursive).lower()}
        return self._request("DELETE", "/v1/fs/content", params=params).json()

    def fs_mkdir(self, path: str) -> dict:
        return self._request("POST", "/v1/fs/mkdir", params={"path": path}).json()

    def add_key(self, public_key: str, name: str | None = None) -> dict:
        return self._request("POST", "/v1/keys",
                             json_body={"public_key": public_key, "name": name}).json()

    def keys(self) -> list[dict]:
        return self._request("GET", "/v1/keys").json()["items"]

    def remove_key(self, name: str) -> dict:
        return self._request("DELETE", f"/v1/keys/{name}").json()

    def team_storage(self, team: str) -> dict:
        return self._request("GET", f"/v1/teams/{team}/storage").json()

    def set_team_storage(self, team: str, quota_bytes: int | None) -> dict:
        return self._request("PUT", f"/v1/teams/{team}/storage",
                             json_body={"quota_bytes": quota_bytes}).json()

    def snapshot(self, digest: str) -> dict | None:
        """The snapshot ``digest`` in the caller's workspace, or None."""
        response = self._fetch("GET", f"/v1/snapshots/{digest}")
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise _api_error(response)
        return response.json()

    def upload_snapshot(self, digest: str, tar: Any, size: int) -> dict:
        headers = {"Content-Type": "application/x-tar", "Content-Length": str(size)}
        return self._request("PUT", f"/v1/snapshots/{digest}", content=tar, headers=headers,
                             timeout=600.0).json()

    # secrets: names come back, values never
    def set_secret(self, name: str, value: str, *, user: str | None = None) -> dict:
        return self._request("PUT", f"/v1/secrets/{name}", json_body={"value": value},
                             params={"user": user} if user else None).json()

    def secrets(self, user: str | None = None) -> list[dict]:
        return self._request("GET", "/v1/secrets", params={"user": user} if user else None).json()["items"]

    def delete_secret(self, name: str, *, user: str | None = None) -> dict:
        return self._request("DELETE", f"/v1/secrets/{name}",
                             params={"user": user} if user else None).json()

    # the run-time policy: priority classes and team quotas (admins change them)
    def policy(self) -> dict:
        return self._request("GET", "/v1/policy").json()

    def set_team_quota(self, team: str, **body: Any) -> dict:
        return self._request("PUT", f"/v1/teams/{team}/quota",
                             json_body={k: v for k, v in body.items() if v is not None}).json()

    def clear_team_quota(self, team: str, flavor: str | None = None) -> dict:
        return self._request("DELETE", f"/v1/teams/{team}/quota",
                             params={"flavor": flavor} if flavor else None).json()

    def set_priority_class(self, name: str, **body: Any) -> dict:
        return self._request("PUT", f"/v1/priority-classes/{name}",
                             json_body={k: v for k, v in body.items() if v is not None}).json()

    def delete_priority_class(self, name: str) -> dict:
        return self._request("DELETE", f"/v1/priority-classes/{name}").json()

    def ready(self) -> dict:
        return self._fetch("GET", "/readyz").json()



def _api_error(response: Response) -> ApiError:
    try:
        err = response.json()["error"]
        return ApiError(response.status_code, err.get("code", "error"), err.get("message", ""),
                        err.get("details"))
    except (ValueError, KeyError, TypeError):
        return ApiError(response.status_code, "http_error",
                        f"HTTP {response.status_code}: {response.text[:300]}")
