"""The activity log of a resource."""

from __future__ import annotations

from fastapi import APIRouter

from kb_service.activity.presenters import activity_out
from kb_service.auth.deps import ActorDep
from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.errors import NotFound, documented
from schemas._base import Limit, Offset, Page
from schemas.activity import ActivityOut

router = APIRouter(
    route_class=UnitOfWorkRoute, prefix="/v1/resources/{resource_id}/activity", tags=["activity"]
)


@router.get("", responses=documented(NotFound))
def activity(
    actor: ActorDep,
    services: ServicesDep,
    resource_id: str,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[ActivityOut]:
    """Team changes, invitations, key management and KB content changes, newest first."""
    entries, total = services.activity.list(actor, resource_id, offset=offset, limit=limit)
    return Page(items=[activity_out(e) for e in entries], total=total, offset=offset, limit=limit)
