"""Capacity changes (company admins only): increase, decrease, plan up/downgrade, cancel."""

from __future__ import annotations

from fastapi import APIRouter

from kb_service.auth.deps import ActorDep
from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.errors import Conflict, Forbidden, NotFound, documented
from kb_service.resources.presenters import resource_out
from schemas.resources import CapacityChange, ResourceOut

router = APIRouter(
    route_class=UnitOfWorkRoute, prefix="/v1/resources/{resource_id}/capacity", tags=["resources"]
)


@router.put("", responses=documented(Forbidden, Conflict, NotFound))
def change_capacity(
    actor: ActorDep, services: ServicesDep, resource_id: str, body: CapacityChange
) -> ResourceOut:
    """Increase now (needs free Cloud Tokens); decrease now or at the next bundle month."""
    return resource_out(services.resources.view(services.capacity.change(actor, resource_id, body)))


@router.delete("/scheduled", responses=documented(Forbidden, Conflict, NotFound))
def cancel_scheduled_change(actor: ActorDep, services: ServicesDep, resource_id: str) -> ResourceOut:
    """Cancel a scheduled decrease or plan downgrade."""
    return resource_out(services.resources.view(services.capacity.cancel_scheduled(actor, resource_id)))
