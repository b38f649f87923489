"""The permission table, written down once: role -> action -> scope.

A scope says which targets an action may touch: ``own`` (the caller's own tasks, own account),
``team`` (anything of the caller's team, own included), ``all``. A missing action is denied.
docs/security.md shows this table (a test keeps the two equal).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from argus.errors import Forbidden


class Scope(str, Enum):
    OWN = "own"
    TEAM = "team"
    ALL = "all"


ROLES = ("admin", "team-admin", "user", "viewer", "auditor")

ACTIONS = {
    "task.submit": "queue a task (owner and team come from the token)",
    "task.list": "list tasks (the list shows only what the scope allows)",
    "task.read": "a task's details and status events",
    "task.logs": "a task's driver logs",
    "task.cancel": "cancel a task",
    "task.resubmit": "queue an ended task again",
    "user.create": "create a user (a team-admin: only user/viewer in their team)",
    "user.read": "see users",
    "user.grant": "give a user an extra permission (GRANTABLE: task.logs on their team's tasks)",
    "team.create": "create a team",
    "team.read": "see a team: members and GPU use (quota view)",
    "token.create": "create an API token for a user",
    "token.revoke": "revoke an API token",
    "token.read": "list API tokens (names, expiry, last use; never the secret)",
    "audit.read": "export and verify the audit trail",
    "team.storage": "set a team's storage quota (bytes its directory and members' workspaces hold)",
    "file.read": "list and download files in one's own view (/ workspace, /team team directory)",
    "file.write": "upload, create, rename and delete files in one's own view (HTTP, SFTP)",
    "key.manage": "register, list and remove one's SSH public keys (SFTP sign-in)",
    "secret.write": "store or remove a secret injected into the user's jobs (e.g. WANDB_API_KEY)",
    "secret.read": "list secret names (never the values)",
    "policy.read": "see the priority classes and the teams' quotas",
    "policy.write": "change a priority class or a team's quota (takes effect at the next tick)",
    "node.read": "list worker nodes: state, GPUs, quarantine reason, heartbeat, zombies",
    "node.release": "lift a node's quarantine (after an Xid)",
    "task.pin": "keep a task's checkpoints and logs from argus gc (argus pin / unpin)",
    "gc.run": "see and remove, under the retention policy, ended tasks' checkpoints, logs and events",
    "report.read": "usage reports: GPU-hours, tasks, waits, preemptions, failures (team scope: own team)",
}

O, T, A = Scope.OWN, Scope.TEAM, Scope.ALL
_SELF = {"token.create": O, "token.revoke": O, "token.read": O, "user.read": O}
_FILES = {"file.read": O, "file.write": O, "key.manage": O}
_SECRETS = {"secret.write": O, "secret.read": O}  # only those who submit jobs have a use for them

PERMISSIONS: dict[str, dict[str, Scope]] = {
    "admin": {action: A for action in ACTIONS},
    "team-admin": {
        "task.submit": O, "task.list": T, "task.read": T, "task.logs": T, "task.cancel": T,
        "task.resubmit": T, "user.create": T, "user.grant": T, "team.read": T, **_SELF, "user.read": T,
        **_FILES, **_SECRETS, "node.read": A, "policy.read": A, "report.read": T, "task.pin": T,
    },
    "user": {
        "task.submit": O, "task.list": T, "task.read": T, "task.logs": O, "task.cancel": O,
        "task.resubmit": O, "team.read": T, **_SELF, **_FILES, **_SECRETS, "node.read": A,
        "policy.read": A, "report.read": T, "task.pin": O,
    },
    "viewer": {"task.list": T, "task.read": T, "task.logs": T, "team.read": T, **_SELF,
               "file.read": O, "key.manage": O, "node.read": A, "policy.read": A, "report.read": T},
    "auditor": {"audit.read": A, **_SELF, "report.read": A},
}

# What a team-admin may hand out: never a role above their own.
TEAM_ADMIN_GRANTS = ("user", "viewer")

# Extra permissions an admin (anyone) or a team-admin (their team's members) may give one user,
# and the scope each gives: a user sees teammates' logs only when granted.
GRANTABLE: dict[str, Scope] = {"task.logs": Scope.TEAM}
_WIDTH = {Scope.OWN: 0, Scope.TEAM: 1, Scope.ALL: 2}


@dataclass(frozen=True)
class Principal:
    """Who is calling: from a token (API) or the local bootstrap."""

    name: str
    role: str
    team: str | None
    token_name: str = ""
    grants: frozenset[str] = frozenset()

    def scope(self, action: str) -> Scope | None:
        """The role's scope for ``action``, widened by a grant of it."""
        base = PERMISSIONS.get(self.role, {}).get(action)
        extra = GRANTABLE.get(action) if action in self.grants else None
        if base is None or extra is None:
            return base or extra
        return max(base, extra, key=_WIDTH.__getitem__)


def allows(principal: Principal, action: str, *, owner: str | None = None,
           team: str | None = None) -> bool:
    """Whether ``principal`` may do ``action`` on a target owned by ``owner`` in ``team``."""
    scope = principal.scope(action)
    if scope is None:
        return False
    if scope is Scope.ALL:
        return True
    if owner is not None and owner == principal.name:
        return True
    return scope is Scope.TEAM and team is not None and team == principal.team


def require(principal: Principal, action: str, *, owner: str | None = None,
            team: str | None = None, target: str = "") -> None:
    if not allows(principal, action, owner=owner, team=team):
        what = f" on {target}" if target else ""
        raise Forbidden(f"{principal.name} (role {principal.role}) may not {action}{what}")


def require_action(principal: Principal, action: str) -> Scope:
    """The caller may do ``action`` on something (its scope is then applied to the targets)."""
    scope = principal.scope(action)
    if scope is None:
        raise Forbidden(f"{principal.name} (role {principal.role}) may not {action}")
    return scope


def markdown_table() -> str:
    """The table as Markdown, for docs/security.md."""
    lines = ["| action | " + " | ".join(ROLES) + " |", "|---" * (len(ROLES) + 1) + "|"]
    for action in ACTIONS:
        cells = [PERMISSIONS[role].get(action) for role in ROLES]
        lines.append(f"| `{action}` | " + " | ".join(c.value if c else "-" for c in cells) + " |")
    return "\n".join(lines)
