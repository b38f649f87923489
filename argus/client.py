"""HTTP client for the Argus API (used by the CLI and the benchmarks)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx

from argus.errors import ArgusError, Unavailable


class ApiError(ArgusError):
    """An error answered by the server, in its one JSON error shape."""

    def __init__(self, status: int, code: str, message: str, details: list | None = None):
        super().__init__(message, details=details)
        self.http_status = status
        self.code = code


class ArgusClient:
    def __init__(self, server: str, *, token: str | None = None, timeout: float = 30.0):
        self.server = server.rstrip("/")
        headers = {"User-Agent": "argus-cli"}
        token = token or os.environ.get("ARGUS_TOKEN")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unavailable(
                f"cannot reach the Argus server at {self.server} ({type(exc).__name__}); "
                "is it running? set --server or ARGUS_SERVER"
            ) from exc
        if response.status_code >= 400:
            raise _api_error(response)
        return response

    def submit(self, spec: dict, *, source: str = "task.yaml", dry_run: bool = False,
               idempotency_key: str | None = None) -> dict:
        headers = {"X-Argus-Source": source}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return self._request("POST", "/v1/tasks", json=spec, headers=headers,
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
        try:
            with self._http.stream("GET", f"/v1/tasks/{task_id}/logs", params=params,
                                   timeout=httpx.Timeout(30.0, read=None)) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _api_error(response)
                yield from response.iter_text()
        except httpx.TransportError as exc:
            raise Unavailable(f"lost the connection to {self.server} while following logs") from exc

    def cancel(self, task_id: int) -> dict:
        return self._request("POST", f"/v1/tasks/{task_id}/cancel").json()

    def resubmit(self, task_id: int, *, fresh: bool = False) -> dict:
        return self._request("POST", f"/v1/tasks/{task_id}/resubmit",
                             params={"fresh": "true"} if fresh else None).json()

    def schema(self) -> dict:
        return self._request("GET", "/v1/schema").json()

    # identity and audit
    def whoami(self) -> dict:
        return self._request("GET", "/v1/whoami").json()

    def create_team(self, name: str, description: str = "") -> dict:
        return self._request("POST", "/v1/teams", json={"name": name, "description": description}).json()

    def teams(self) -> list[dict]:
        return self._request("GET", "/v1/teams").json()["items"]

    def team(self, name: str) -> dict:
        return self._request("GET", f"/v1/teams/{name}").json()

    def create_user(self, name: str, *, team: str | None, role: str) -> dict:
        return self._request("POST", "/v1/users", json={"name": name, "team": team, "role": role}).json()

    def grant(self, user: str, action: str) -> dict:
        return self._request("POST", f"/v1/users/{user}/grants", json={"action": action}).json()

    def revoke_grant(self, user: str, action: str) -> dict:
        return self._request("DELETE", f"/v1/users/{user}/grants/{action}").json()

    def users(self) -> list[dict]:
        return self._request("GET", "/v1/users").json()["items"]

    def create_token(self, user: str, *, name: str | None = None, expires: str | None = None) -> dict:
        body = {"user": user, "name": name, "expires": expires}
        return self._request("POST", "/v1/tokens", json=body).json()

    def tokens(self, user: str | None = None) -> list[dict]:
        return self._request("GET", "/v1/tokens", params={"user": user} if user else None).json()["items"]

    def revoke_token(self, user: str, name: str) -> dict:
        return self._request("POST", f"/v1/tokens/{user}/{name}/revoke").json()

    def audit_export(self, **params: Any) -> Iterator[str]:
        clean = {k: v for k, v in params.items() if v is not None}
        with self._http.stream("GET", "/v1/audit", params=clean,
                               timeout=httpx.Timeout(30.0, read=None)) as response:
            if response.status_code >= 400:
                response.read()
                raise _api_error(response)
            yield from response.iter_text()

    def audit_verify(self) -> dict:
        return self._request("GET", "/v1/audit/verify").json()

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
        params: dict[str, Any] = {"path": path, "offset": offset, "final": str(final).lower()}
        if sha256:
            params["sha256"] = sha256
        return self._request("PUT", "/v1/fs/content", params=params, content=data,
                             headers={"Content-Type": "application/octet-stream"}).json()

    def fs_download(self, path: str) -> Iterator[bytes]:
        try:
            with self._http.stream("GET", "/v1/fs/content", params={"path": path},
                                   timeout=httpx.Timeout(30.0, read=300.0)) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _api_error(response)
                yield from response.iter_bytes()
        except httpx.TransportError as exc:
            raise Unavailable(f"lost the connection to {self.server} while downloading {path}") from exc

    def fs_delete(self, path: str, *, recursive: bool = False) -> dict:
        params = {"path": path, "recursive": str(recursive).lower()}
        return self._request("DELETE", "/v1/fs/content", params=params).json()

    def fs_mkdir(self, path: str) -> dict:
        return self._request("POST", "/v1/fs/mkdir", params={"path": path}).json()

    def add_key(self, public_key: str, name: str | None = None) -> dict:
        return self._request("POST", "/v1/keys", json={"public_key": public_key, "name": name}).json()

    def keys(self) -> list[dict]:
        return self._request("GET", "/v1/keys").json()["items"]

    def remove_key(self, name: str) -> dict:
        return self._request("DELETE", f"/v1/keys/{name}").json()

    def team_storage(self, team: str) -> dict:
        return self._request("GET", f"/v1/teams/{team}/storage").json()

    def set_team_storage(self, team: str, quota_bytes: int | None) -> dict:
        return self._request("PUT", f"/v1/teams/{team}/storage",
                             json={"quota_bytes": quota_bytes}).json()

    def snapshot_exists(self, digest: str) -> dict | None:
        try:
            return self._request("GET", f"/v1/snapshots/{digest}").json()
        except ApiError as exc:
            if exc.http_status == 404:
                return None
            raise

    def upload_snapshot(self, digest: str, tar: Any, size: int) -> dict:
        return self._request("PUT", f"/v1/snapshots/{digest}", content=tar,
                             headers={"Content-Type": "application/x-tar",
                                      "Content-Length": str(size)},
                             timeout=httpx.Timeout(30.0, read=600.0, write=600.0)).json()

    def ready(self) -> dict:
        response = self._http.get("/readyz")
        return response.json()


def _api_error(response: httpx.Response) -> ApiError:
    try:
        err = response.json()["error"]
        return ApiError(response.status_code, err.get("code", "error"), err.get("message", ""),
                        err.get("details"))
    except (ValueError, KeyError, TypeError):
        return ApiError(response.status_code, "http_error",
                        f"HTTP {response.status_code}: {response.text[:300]}")
