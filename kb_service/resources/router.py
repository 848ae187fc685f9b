"""Control-plane resource routes: preview, provision, overview, settings, changes, deprovision."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from kb_service.auth.deps import ActorDep
from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.errors import Conflict, Forbidden, Gone, NotFound, documented
from kb_service.resources.presenters import provisioned_out, resource_out, settings_out
from schemas.resources import (
    ModelsChange,
    Provisioned,
    ProvisionRequest,
    ResourceOut,
    ResourceSettings,
    ResourceTypeName,
    ResourceUpdate,
    Specification,
)

router = APIRouter(route_class=UnitOfWorkRoute, prefix="/v1/resources", tags=["resources"])


@router.post("/preview", responses=documented(Forbidden, Conflict, NotFound))
def preview(actor: ActorDep, services: ServicesDep, body: ProvisionRequest) -> Specification:
    """The resource specification (GU per month, token cost, balance after); creates nothing."""
    return services.resources.preview(actor, body)


@router.post("", status_code=status.HTTP_201_CREATED, responses=documented(Forbidden, Conflict, NotFound))
def provision(actor: ActorDep, services: ServicesDep, body: ProvisionRequest) -> Provisioned:
    """Provision a resource (company admins only). The user it is created for joins its team; someone
    outside the company gets an external invitation (`invitation`, its link shown this once), or —
    with external invitations off — the request is refused (422) before anything is created."""
    return provisioned_out(services.resources.provision(actor, body))


@router.get("", responses=documented())
def list_resources(
    actor: ActorDep,
    services: ServicesDep,
    type: Annotated[ResourceTypeName | None, Query(description="Only this type.")] = None,
) -> list[ResourceOut]:
    return [resource_out(view) for view in services.resources.list(actor, type)]


@router.get("/{resource_id}", responses=documented(NotFound))
def get_resource(actor: ActorDep, services: ServicesDep, resource_id: str) -> ResourceOut:
    return resource_out(services.resources.get(actor, resource_id))


@router.get("/{resource_id}/settings", responses=documented(NotFound))
def get_settings(actor: ActorDep, services: ServicesDep, resource_id: str) -> ResourceSettings:
    return settings_out(services.resources.settings(actor, resource_id))


@router.patch("/{resource_id}", responses=documented(Forbidden, NotFound))
def update_resource(
    actor: ActorDep, services: ServicesDep, resource_id: str, body: ResourceUpdate
) -> ResourceOut:
    """Rename, change the environment (internal members) or the default model (any member)."""
    return resource_out(services.resources.update(actor, resource_id, body))


@router.put("/{resource_id}/models", responses=documented(Forbidden, Conflict, Gone, NotFound))
def change_models(
    actor: ActorDep, services: ServicesDep, resource_id: str, body: ModelsChange
) -> ResourceOut:
    """Change the models enabled on a resource (company admins): models of its region only; the
    default model stays among them; an embeddings resource's model only while no knowledge base
    depends on it (409 naming them)."""
    return resource_out(services.resources.change_models(actor, resource_id, body))


@router.post("/{resource_id}/deprovision", responses=documented(Forbidden, Conflict, NotFound))
def deprovision(actor: ActorDep, services: ServicesDep, resource_id: str) -> ResourceOut:
    """Schedule deprovisioning at the end of the current bundle month (company admins only)."""
    return resource_out(services.resources.deprovision(actor, resource_id))


@router.delete("/{resource_id}/deprovision", responses=documented(Forbidden, Conflict, Gone, NotFound))
def cancel_deprovision(actor: ActorDep, services: ServicesDep, resource_id: str) -> ResourceOut:
    """Cancel a scheduled deprovisioning until it takes effect (company admins only); 409 when none
    is scheduled, 410 once it has taken effect."""
    return resource_out(services.resources.cancel_deprovision(actor, resource_id))
