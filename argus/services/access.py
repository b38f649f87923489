"""Who may touch which task: the permission table applied to tasks (owner, team)."""

from __future__ import annotations

from sqlalchemy import or_

from argus.authz import Principal, Scope, require, require_action
from argus.db.engine import Database
from argus.db.models import Task
from argus.db.store import get_task
from argus.errors import Forbidden
from taskspec import CustomTask, VerlTask


def authorize_task(db: Database, actor: Principal, action: str, task_id: int) -> None:
    """NotFound if the task does not exist, Forbidden if the role does not reach it."""
    with db.read() as session:
        task = get_task(session, task_id)
        owner, team = task.owner, task.team
    require(actor, action, owner=owner, team=team, target=f"task {task_id}")


def submit_identity(actor: Principal, spec: CustomTask | VerlTask) -> tuple[str, str | None]:
    """(owner, team) of a new task: from the token; a YAML naming another team is refused."""
    require_action(actor, "task.submit")
    if spec.team is not None and spec.team != actor.team:
        mine = f"your team is '{actor.team}'" if actor.team else "you belong to no team"
        raise Forbidden(f"team: '{spec.team}' is not your team ({mine}); a task's team comes "
                        "from your token: remove 'team' from the task file")
    return actor.name, actor.team


def visible_filter(actor: Principal):  # noqa: ANN201 - a SQLAlchemy clause or None
    """The WHERE clause limiting a task list to what ``actor`` may see (None: everything)."""
    scope = require_action(actor, "task.list")
    if scope is Scope.ALL:
        return None
    if scope is Scope.TEAM and actor.team:
        return or_(Task.owner == actor.name, Task.team == actor.team)
    return Task.owner == actor.name
