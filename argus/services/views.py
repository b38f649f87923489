"""How a task looks to users (API, CLI): one dict shape, built in one place."""

from __future__ import annotations

from typing import Any

from argus.db.models import Attempt, Task


def task_view(task: Task, attempt: Attempt | None) -> dict[str, Any]:
    return {
        "id": task.id,
        "name": task.name,
        "kind": task.kind,
        "priority": task.priority,
        "team": task.team,
        "owner": task.owner,
        "status": task.status,
        "reason": task.reason,
        "attempts": task.attempts,
        "max_attempts": task.max_attempts,
        "preemptions": task.preemptions,
        "latest_step": task.latest_step,
        "exit_code": task.exit_code,
        "termination": task.termination,  # why the newest attempt ended (argus/termination.py)
        "checkpoint_dir": task.checkpoint_dir,
        "resources": {
            "nodes": task.nodes,
            "gpus_per_node": task.gpus_per_node,
            "gpu_model": task.gpu_model,
            "cpus_per_node": task.cpus_per_node,
        },
        "command": task.argv,
        "resubmit_of": task.resubmit_of,
        "snapshots": task.snapshots or {},  # {field: snapshot id}: the code this task runs
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "started_at": task.started_at,
        "finished_at": task.finished_at,
        "submission_id": attempt.submission_id if attempt else None,
        "placement": attempt.placement if attempt else [],
    }
