"""Tokens: required everywhere but health checks; expired, revoked, unknown ones are refused."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import select, update

from argus.db.models import ApiToken
from argus.errors import Conflict
from argus.services import identity
from tests.api.conftest import ADMIN


def test_every_route_but_health_needs_a_token(world):
    anon = world.client("nobody")
    assert anon.get("/healthz").status_code == 200
    assert anon.get("/readyz").status_code in (200, 503)
    for method, path in [("GET", "/v1/tasks"), ("POST", "/v1/tasks"), ("GET", "/v1/tasks/1"),
                         ("GET", "/v1/tasks/1/logs"), ("POST", "/v1/tasks/1/cancel"),
                         ("GET", "/v1/schema"), ("GET", "/v1/whoami"), ("GET", "/v1/users"),
                         ("POST", "/v1/tokens"), ("GET", "/v1/audit")]:
        response = anon.request(method, path)
        assert response.status_code == 401, (method, path, response.text)
        error = response.json()["error"]
        assert error["code"] == "unauthorized" and "Bearer" in error["message"]
        assert error["request_id"]


def test_whoami_names_the_token(world):
    me = world.client("alice").get("/v1/whoami").json()
    assert me["user"] == "alice" and me["team"] == "red" and me["role"] == "user"
    assert me["token"] == "main" and me["permissions"]["task.logs"] == "own"


def test_token_is_stored_only_as_a_hash(world):
    created = world.client("alice").post("/v1/tokens", json={"user": "alice", "name": "laptop"})
    assert created.status_code == 201
    secret = created.json()["token"]
    with world.db.read() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == "laptop"))
    assert row.token_hash == identity.hash_token(secret) and secret not in row.token_hash
    listed = world.client("alice").get("/v1/tokens").json()["items"]
    assert {t["name"] for t in listed} == {"main", "laptop"}
    assert all("token" not in t for t in listed)


def test_expired_token_is_refused(world):
    token = identity.create_token(world.db, ADMIN, "bob", name="short", expires_in_s=3600)["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{world.url}/v1/whoami", headers=headers).status_code == 200
    with world.db.write() as session:
        session.execute(update(ApiToken).where(ApiToken.name == "short")
                        .values(expires_at=time.time() - 1))
    response = httpx.get(f"{world.url}/v1/whoami", headers=headers)
    assert response.status_code == 401 and "expired" in response.json()["error"]["message"]


def test_revoked_token_is_refused(world):
    bob = world.client("bob")
    token = bob.post("/v1/tokens", json={"user": "bob", "name": "ci", "expires": "1d"}).json()
    assert token["expires_at"] > time.time() + 86000
    headers = {"Authorization": f"Bearer {token['token']}"}
    assert httpx.get(f"{world.url}/v1/whoami", headers=headers).status_code == 200
    assert bob.post("/v1/tokens/bob/ci/revoke").status_code == 200
    response = httpx.get(f"{world.url}/v1/whoami", headers=headers)
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


def test_unknown_and_malformed_tokens_are_refused(world):
    for header in ("Bearer argus_not-a-token", "Basic dXNlcjpwYXNz", "Bearer"):
        response = httpx.get(f"{world.url}/v1/tasks", headers={"Authorization": header})
        assert response.status_code == 401


def test_last_used_is_recorded(world):
    world.client("carol").get("/v1/whoami")
    tokens = identity.list_tokens(world.db, ADMIN, "carol")
    assert tokens[0]["last_used_at"] is not None


def test_bootstrap_refuses_a_second_admin(world):
    with pytest.raises(Conflict):
        identity.bootstrap_admin(world.db, "mallory")


def test_team_admin_cannot_grant_admin(world):
    tadmin = world.client("tadmin")
    response = tadmin.post("/v1/users", json={"name": "eve", "team": "red", "role": "admin"})
    assert response.status_code == 403
    assert tadmin.post("/v1/users", json={"name": "dan", "team": "red", "role": "user"}).status_code == 201
