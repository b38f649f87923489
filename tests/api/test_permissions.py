"""Every cell of the permission table, allowed and denied, through the real API.

The expectations are written out here by hand (not read from argus.authz), so a change to
the table that is not a deliberate change to this matrix fails. Targets: ``own`` (the
caller's), ``team`` (alice's, team red), ``other`` (carol's, team blue); '-' = not applicable.
"""

from __future__ import annotations

import itertools
import time
import uuid

import pytest

from argus import noderegistry
from argus.authz import ACTIONS
from argus.services import identity
from argus.services import tasks as task_service
from taskspec import load_spec_data
from tests.api.conftest import ADMIN

ACTOR = {"admin": "root", "team-admin": "tadmin", "user": "bob", "viewer": "vera",
         "auditor": "audrey"}
TARGET_OWNER = {"team": "alice", "other": "carol"}
TEAM_OF = {"root": None, "tadmin": "red", "bob": "red", "vera": "red", "audrey": None,
           "alice": "red", "carol": "blue"}

#               admin  team-admin user   viewer auditor
EXPECTED = {
    "task.submit":   ("y--", "y--", "y--", "n--", "n--"),
    "task.list":     ("yyy", "yyn", "yyn", "yyn", "nnn"),
    "task.read":     ("yyy", "yyn", "yyn", "yyn", "nnn"),
    "task.logs":     ("yyy", "yyn", "ynn", "yyn", "nnn"),
    "task.cancel":   ("yyy", "yyn", "ynn", "nnn", "nnn"),
    "task.resubmit": ("yyy", "yyn", "ynn", "nnn", "nnn"),
    "user.create":   ("-yy", "-yn", "-nn", "-nn", "-nn"),
    "user.read":     ("y--", "y--", "y--", "y--", "y--"),
    "user.grant":    ("yyy", "yyn", "nnn", "nnn", "nnn"),
    "team.create":   ("y--", "n--", "n--", "n--", "n--"),
    "team.read":     ("-yy", "-yn", "-yn", "-yn", "-nn"),
    "token.create":  ("yyy", "ynn", "ynn", "ynn", "ynn"),
    "token.revoke":  ("yyy", "ynn", "ynn", "ynn", "ynn"),
    "token.read":    ("y--", "y--", "y--", "y--", "y--"),
    "audit.read":    ("y--", "n--", "n--", "n--", "y--"),
    "team.storage":  ("-yy", "-nn", "-nn", "-nn", "-nn"),
    "file.read":     ("y--", "y--", "y--", "y--", "n--"),
    "file.write":    ("y--", "y--", "y--", "n--", "n--"),
    "key.manage":    ("y--", "y--", "y--", "y--", "n--"),
    "secret.write":  ("yyy", "ynn", "ynn", "nnn", "nnn"),
    "secret.read":   ("yyy", "ynn", "ynn", "nnn", "nnn"),
    "policy.read":   ("y--", "y--", "y--", "y--", "n--"),
    "policy.write":  ("y--", "n--", "n--", "n--", "n--"),
    "node.read":     ("y--", "y--", "y--", "y--", "n--"),
    "node.release":  ("y--", "n--", "n--", "n--", "n--"),
    "report.read":   ("y--", "y--", "y--", "y--", "y--"),
    "task.pin":      ("yyy", "yyn", "ynn", "nnn", "nnn"),
    "gc.run":        ("y--", "n--", "n--", "n--", "n--"),
}
ROLES = list(ACTOR)
CELLS = [
    (action, role, target, row[ROLES.index(role)][i])
    for action, row in EXPECTED.items()
    for role, (i, target) in itertools.product(ROLES, enumerate(("own", "team", "other")))
    if row[ROLES.index(role)][i] != "-"
]


def _owner(actor: str, target: str) -> str:
    return actor if target == "own" else TARGET_OWNER[target]


def _task(world, owner: str, *, ended: bool = False) -> int:  # noqa: ANN001
    spec = load_spec_data(world.spec(owner), source="test")
    task = task_service.create_task(world.db, world.settings, spec, owner=owner, team=TEAM_OF[owner])
    if ended:
        task_service.cancel(world.db, task["id"])
    return task["id"]


def _token(world, owner: str) -> str:  # noqa: ANN001
    name = f"t-{uuid.uuid4().hex[:8]}"
    identity.create_token(world.db, ADMIN, owner, name=name)
    return name


def attempt(world, action: str, actor: str, target: str) -> tuple[int, bool | None]:  # noqa: ANN001, C901, PLR0911
    """Do ``action`` as ``actor`` on ``target``: (HTTP status, visible-in-list for task.list)."""
    http = world.client(actor)
    owner = _owner(actor, target)
    team = TEAM_OF[actor] if target == "own" else ("red" if target == "team" else "blue")
    if action == "task.submit":
        return http.post("/v1/tasks", json=world.spec(actor)).status_code, None
    if action == "task.list":
        task_id = _task(world, owner)
        response = http.get("/v1/tasks", params={"limit": 500})
        ids = [t["id"] for t in response.json().get("items", [])] if response.is_success else []
        return response.status_code, task_id in ids
    if action in ("task.read", "task.logs", "task.cancel", "task.resubmit"):
        task_id = _task(world, owner, ended=action == "task.resubmit")
        method, suffix = {"task.read": ("GET", ""), "task.logs": ("GET", "/logs"),
                          "task.cancel": ("POST", "/cancel"),
                          "task.resubmit": ("POST", "/resubmit")}[action]
        return http.request(method, f"/v1/tasks/{task_id}{suffix}").status_code, None
    if action == "user.create":
        body = {"name": f"u-{uuid.uuid4().hex[:8]}", "team": team, "role": "user"}
        return http.post("/v1/users", json=body).status_code, None
    if action == "user.grant":
        response = http.post(f"/v1/users/{owner}/grants", json={"action": "task.logs"})
        if response.is_success:  # take it back, so no other cell sees a widened permission
            assert world.client("root").delete(f"/v1/users/{owner}/grants/task.logs").is_success
        return response.status_code, None
    if action == "user.read":
        return http.get("/v1/users").status_code, None
    if action == "team.create":
        return http.post("/v1/teams", json={"name": f"team-{uuid.uuid4().hex[:8]}"}).status_code, None
    if action == "team.read":
        return http.get(f"/v1/teams/{team}").status_code, None
    if action == "token.create":
        return http.post("/v1/tokens", json={"user": owner, "name": f"n-{uuid.uuid4().hex[:8]}"}
                         ).status_code, None
    if action == "token.revoke":
        return http.post(f"/v1/tokens/{owner}/{_token(world, owner)}/revoke").status_code, None
    if action == "token.read":
        return http.get("/v1/tokens").status_code, None
    if action == "audit.read":
        return http.get("/v1/audit").status_code, None
    return _data_attempt(world, http, action, team, target, owner)


def _data_attempt(world, http, action: str, team: str | None, target: str,  # noqa: ANN001
                  owner: str) -> tuple[int, None]:
    if action == "team.storage":  # null: leave every team unlimited for the other cells
        return http.put(f"/v1/teams/{team}/storage", json={"quota_bytes": None}).status_code, None
    if action == "file.read":
        return http.get("/v1/fs/list", params={"path": "/"}).status_code, None
    if action == "file.write":
        path = f"/perm-{uuid.uuid4().hex[:8]}.txt"
        return http.put("/v1/fs/content", params={"path": path}, content=b"x").status_code, None
    if action == "key.manage":
        return http.get("/v1/keys").status_code, None
    if action in ("secret.write", "secret.read"):
        params = {} if target == "own" else {"user": owner}
        if action == "secret.read":
            return http.get("/v1/secrets", params=params).status_code, None
        return http.put("/v1/secrets/HF_TOKEN", params=params, json={"value": "hf_x"}).status_code, None
    if action == "policy.read":
        return http.get("/v1/policy").status_code, None
    if action == "policy.write":  # a team no other cell uses
        return http.put(f"/v1/teams/q-{uuid.uuid4().hex[:8]}/quota", json={"weight": 2}).status_code, None
    if action == "node.read":
        return http.get("/v1/nodes").status_code, None
    if action == "node.release":
        name = f"n-{uuid.uuid4().hex[:8]}"
        noderegistry.publish(world.settings.shared_root, {"name": name, "quarantined": True,
                                                          "quarantine_reason": "Xid 79", "heartbeat_at": 1.0})
        return http.post(f"/v1/nodes/{name}/release").status_code, None
    if action == "task.pin":
        return http.post(f"/v1/tasks/{_task(world, owner)}/pin").status_code, None
    if action == "gc.run":
        return http.post("/v1/gc").status_code, None
    if action == "report.read":
        return http.get("/v1/reports/usage", params={"since": str(time.time() - 86400)}).status_code, None
    raise AssertionError(f"no test for {action}")


@pytest.mark.parametrize(("action", "role", "target", "expected"), CELLS,
                         ids=[f"{r}-{a}-{t}" for a, r, t, _ in CELLS])
def test_permission_cell(shared_world, action, role, target, expected):
    status, visible = attempt(shared_world, action, ACTOR[role], target)
    if action == "task.list" and status == 200:
        assert visible == (expected == "y"), f"{role} {'should' if expected == 'y' else 'must not'} see {target}'s task"
    elif expected == "y":
        assert 200 <= status < 300, f"{role} should be allowed {action} on {target}: HTTP {status}"
    else:
        assert status == 403, f"{role} must be refused {action} on {target}: HTTP {status}"


def test_every_action_of_the_table_is_tested():
    assert set(EXPECTED) == set(ACTIONS)
