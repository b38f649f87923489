"""/v1/policy, /v1/teams/{team}/quota, /v1/priority-classes: the scheduling policy an admin may
change without a restart. Thin: logic, permissions and the audit entry are in services/policy."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import acting, audit_of, note
from api.context import Ctx
from argus.authz import Principal
from argus.services import policy as policy_service
from argus.settings import FlavorQuotaConfig, PriorityClassConfig

router = APIRouter(prefix="/v1", tags=["policy"])
TeamName = Annotated[str, Path(max_length=64, description="The team.")]
ClassName = Annotated[str, Path(max_length=64, description="The priority class.")]


class QuotaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flavor: str | None = Field(None, max_length=64, description="A GPU model (H100) or * for any.")
    nominal: float | None = Field(None, ge=0, le=1e6, description="GPUs of this flavor the team is owed.")
    borrowing_limit: float | None = Field(None, ge=0, le=1e6, description="At most this much above nominal.")
    lending_limit: float | None = Field(None, ge=0, le=1e6, description="Lends at most this much idle quota.")
    weight: float | None = Field(None, gt=0, le=1e6, description="Fair-share weight.")


class ClassIn(PriorityClassConfig):
    rank: int | None = Field(None, ge=0, le=1000, description="0 is the highest; others move down.")


@router.get("/policy", summary="Priority classes and team quotas as the scheduler uses them now")
def get_policy(ctx: Ctx, who: Principal = Depends(acting("policy.read"))) -> Any:
    return policy_service.policy_view(ctx.db, who, ctx.preparer.policy)


@router.put("/teams/{team}/quota", summary="Set a team's quota of one flavor and/or its weight")
def set_quota(team: TeamName, body: QuotaIn, request: Request, ctx: Ctx,
              who: Principal = Depends(acting("policy.write"))) -> Any:
    note(request, target=f"team/{team}/quota", **body.model_dump(exclude_none=True))
    quota = None
    if body.nominal is not None:
        quota = FlavorQuotaConfig(nominal=body.nominal, borrowing_limit=body.borrowing_limit,
                                  lending_limit=body.lending_limit)
    result = policy_service.set_team_quota(ctx.db, who, team, flavor=body.flavor, quota=quota,
                                           weight=body.weight, audit=audit_of(request))
    ctx.preparer.policy.invalidate()
    return result


@router.delete("/teams/{team}/quota", summary="Remove a team's quota (one flavor, or all: unlimited)")
def clear_quota(team: TeamName, request: Request, ctx: Ctx,
                flavor: Annotated[str | None, Query(max_length=64)] = None,
                who: Principal = Depends(acting("policy.write"))) -> Any:
    result = policy_service.clear_team_quota(ctx.db, who, team, flavor=flavor, audit=audit_of(request))
    ctx.preparer.policy.invalidate()
    return result


@router.put("/priority-classes/{name}", summary="Create or change a priority class")
def set_class(name: ClassName, body: ClassIn, request: Request, ctx: Ctx,
              who: Principal = Depends(acting("policy.write"))) -> Any:
    note(request, target=f"priority-class/{name}", **body.model_dump(exclude_none=True))
    change = PriorityClassConfig(**body.model_dump(exclude={"rank"}))
    result = policy_service.set_priority_class(ctx.db, who, name, change, rank=body.rank,
                                               default_grace=ctx.settings.stop_wait_seconds,
                                               audit=audit_of(request))
    ctx.preparer.policy.invalidate()
    return result


@router.delete("/priority-classes/{name}", summary="Remove a priority class no live task uses")
def delete_class(name: ClassName, request: Request, ctx: Ctx,
                 who: Principal = Depends(acting("policy.write"))) -> Any:
    result = policy_service.delete_priority_class(ctx.db, who, name, audit=audit_of(request))
    ctx.preparer.policy.invalidate()
    return result
