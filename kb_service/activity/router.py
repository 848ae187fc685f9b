"""The activity log of a resource."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from kb_service.deps import ActivityServiceDep, ActorDep
from kb_service.errors import NotFound
from kb_service.openapi import errors
from schemas._base import Page
from schemas.activity import ActivityOut

router = APIRouter(prefix="/v1/resources/{resource_id}/activity", tags=["activity"])


@router.get("", responses=errors(NotFound))
def activity(
    actor: ActorDep,
    service: ActivityServiceDep,
    resource_id: str,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[ActivityOut]:
    """Team changes, invitations, key management and KB content changes, newest first."""
    entries, total = service.list(actor, resource_id, offset=offset, limit=limit)
    items = [
        ActivityOut(occurred_at=e.occurred_at, actor=e.actor, action=e.action, detail=e.detail)
        for e in entries
    ]
    return Page(items=items, total=total, offset=offset, limit=limit)
