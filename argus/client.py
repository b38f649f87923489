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

    # secrets: names come back, values never
    def set_secret(self, name: str, value: str, *, user: str | None = None) -> dict:
        return self._request("PUT", f"/v1/secrets/{name}", json={"value": value},
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
                             json={k: v for k, v in body.items() if v is not None}).json()

    def clear_team_quota(self, team: str, flavor: str | None = None) -> dict:
        return self._request("DELETE", f"/v1/teams/{team}/quota",
                             params={"flavor": flavor} if flavor else None).json()

    def set_priority_class(self, name: str, **body: Any) -> dict:
        return self._request("PUT", f"/v1/priority-classes/{name}",
                             json={k: v for k, v in body.items() if v is not None}).json()

    def delete_priority_class(self, name: str) -> dict:
        return self._request("DELETE", f"/v1/priority-classes/{name}").json()

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
