"""What ``--dry-run`` shows: the compiled entrypoint and what the planner would do now."""

from __future__ import annotations

from typing import Any

from argus.cluster import ClusterProvider
from argus.db.engine import Database
from argus.services import secrets as secret_service
from argus.scheduling.policy import Policy
from argus.services.snapshot import preview_decision
from argus.settings import Settings
from taskspec import CustomTask, JobRequest, VerlTask


def dry_run_view(db: Database, settings: Settings, provider: ClusterProvider,
                 spec: CustomTask | VerlTask, preview: JobRequest, owner: str, policy: Policy) -> dict[str, Any]:
    """``preview``: the job request :meth:`Preparer.check` returned for ``spec``."""
    return {
        "dry_run": True,
        "spec": spec.model_dump(mode="json"),
        "entrypoint": preview.entrypoint,
        "argv": preview.argv,
        "runtime_env": secret_service.preview_runtime_env(db, preview.runtime_env, owner, spec.env),
        "entrypoint_num_cpus": preview.entrypoint_num_cpus,
        "entrypoint_num_gpus": preview.entrypoint_num_gpus,
        "entrypoint_resources": preview.entrypoint_resources,
        "verl_config": preview.verl_config,
        "decision": preview_decision(db, settings, provider, spec, policy),
    }
