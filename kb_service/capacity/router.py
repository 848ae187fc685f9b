"""Capacity changes (company admins only): increase, decrease, plan up/downgrade, cancel."""

from __future__ import annotations

from fastapi import APIRouter

from kb_service.deps import ActorDep, CapacityServiceDep, ProvisioningServiceDep
from kb_service.errors import Conflict, Forbidden, NotFound
from kb_service.openapi import errors
from kb_service.provisioning.router import resource_out
from schemas.provisioning import CapacityChange, ResourceOut

router = APIRouter(prefix="/v1/resources/{resource_id}/capacity", tags=["resources"])


@router.put("", responses=errors(Forbidden, Conflict, NotFound))
def change_capacity(
    actor: ActorDep,
    capacity: CapacityServiceDep,
    resources: ProvisioningServiceDep,
    resource_id: str,
    body: CapacityChange,
) -> ResourceOut:
    """Increase now (needs free Cloud Tokens); decrease now or at the next bundle month."""
    return resource_out(resources.view(capacity.change(actor, resource_id, body)))


@router.delete("/scheduled", responses=errors(Forbidden, Conflict, NotFound))
def cancel_scheduled_change(
    actor: ActorDep, capacity: CapacityServiceDep, resources: ProvisioningServiceDep, resource_id: str
) -> ResourceOut:
    """Cancel a scheduled decrease or plan downgrade."""
    return resource_out(resources.view(capacity.cancel_scheduled(actor, resource_id)))
