"""Control-plane resource routes: preview, provision, overview, settings, changes, deprovision."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from kb_service.capacity.periods import clamping_note
from kb_service.capacity.plans import allocation_gu
from kb_service.deps import ActorDep, ProvisioningServiceDep
from kb_service.errors import Conflict, Forbidden, NotFound
from kb_service.openapi import errors
from kb_service.provisioning.service import ResourceView, SettingsView
from kb_service.resources.models import Resource, ResourceStatus
from schemas.provisioning import (
    CreatedFor,
    ProvisionRequest,
    ResourceOut,
    ResourceSettings,
    ResourceTypeName,
    ResourceUpdate,
    ScheduledChange,
    Specification,
)

router = APIRouter(prefix="/v1/resources", tags=["resources"])

CLOUD_PROVIDER = "AWS"


@router.post("/preview", responses=errors(Forbidden, Conflict, NotFound))
def preview(actor: ActorDep, service: ProvisioningServiceDep, body: ProvisionRequest) -> Specification:
    """The resource specification (GU per month, token cost, balance after); creates nothing."""
    return service.preview(actor, body)


@router.post("", status_code=status.HTTP_201_CREATED, responses=errors(Forbidden, Conflict, NotFound))
def provision(actor: ActorDep, service: ProvisioningServiceDep, body: ProvisionRequest) -> ResourceOut:
    """Provision a resource (company admins only)."""
    return resource_out(service.provision(actor, body))


@router.get("", responses=errors())
def list_resources(
    actor: ActorDep,
    service: ProvisioningServiceDep,
    type: Annotated[ResourceTypeName | None, Query(description="Only this type.")] = None,
) -> list[ResourceOut]:
    return [resource_out(view) for view in service.list(actor, type)]


@router.get("/{resource_id}", responses=errors(NotFound))
def get_resource(actor: ActorDep, service: ProvisioningServiceDep, resource_id: str) -> ResourceOut:
    return resource_out(service.get(actor, resource_id))


@router.get("/{resource_id}/settings", responses=errors(NotFound))
def get_settings(actor: ActorDep, service: ProvisioningServiceDep, resource_id: str) -> ResourceSettings:
    return settings_out(service.settings(actor, resource_id))


@router.patch("/{resource_id}", responses=errors(Forbidden, NotFound))
def update_resource(
    actor: ActorDep, service: ProvisioningServiceDep, resource_id: str, body: ResourceUpdate
) -> ResourceOut:
    """Rename, change the environment (internal members) or the default model (any member)."""
    return resource_out(service.update(actor, resource_id, body))


@router.post("/{resource_id}/deprovision", responses=errors(Forbidden, Conflict, NotFound))
def deprovision(actor: ActorDep, service: ProvisioningServiceDep, resource_id: str) -> ResourceOut:
    """Schedule deprovisioning at the end of the current bundle month (company admins only)."""
    return resource_out(service.deprovision(actor, resource_id))


# --- presentation -------------------------------------------------------------------------------


def status_label(resource: Resource) -> str:
    if resource.status == ResourceStatus.DEPROVISIONING_SCHEDULED and resource.deprovision_on:
        return f"Deprovisioning scheduled for {resource.deprovision_on.isoformat()}"
    if resource.status == ResourceStatus.PLAN_DOWNGRADE_SCHEDULED:
        return "PLAN DOWNGRADE SCHEDULED"
    return resource.status.replace("_", " ").capitalize()


def resource_out(view: ResourceView) -> ResourceOut:
    r = view.resource
    scheduled = None
    if r.pending_change_on is not None and r.pending_capacity_tokens is not None:
        scheduled = ScheduledChange(
            on=r.pending_change_on,
            plan=r.pending_plan,
            cloud_tokens=r.pending_capacity_tokens,
            genai_units_per_month=allocation_gu(r.type, r.pending_capacity_tokens),
        )
    created_for = (
        CreatedFor(name=r.created_for_name, email=r.created_for_email)
        if r.created_for_name and r.created_for_email
        else None
    )
    return ResourceOut(
        id=r.id,
        type=r.type,
        display_name=r.display_name,
        status=r.status,
        status_label=status_label(r),
        environment=r.environment,
        region=r.region,
        models=view.models,
        default_model=r.default_model_id,
        plan=r.plan,
        cloud_tokens=r.capacity_tokens,
        genai_units_per_month=allocation_gu(r.type, r.capacity_tokens),
        created_for=created_for,
        activated_on=r.activated_on,
        deprovision_on=r.deprovision_on,
        scheduled_change=scheduled,
        created_at=r.created_at,
    )


def settings_out(settings: SettingsView) -> ResourceSettings:
    from kb_service.catalog import all_models

    r = settings.view.resource
    kind = {"text_generation": "text", "embeddings": "embeddings"}.get(r.type)
    return ResourceSettings(
        **resource_out(settings.view).model_dump(),
        company_id=settings.company.id,
        company_name=settings.company.name,
        regions=[r.region],
        cross_region_inference=r.cross_region_inference,
        cloud_provider=CLOUD_PROVIDER,
        available_models=sorted(
            m.id for m in all_models().values() if m.kind == kind and r.region in m.regions
        ),
        linked_knowledge_base_ids=settings.linked_knowledge_base_ids,
        embeddings_resource_id=r.embeddings_resource_id,
        refill_on=settings.refill_on,
        bundle_month_note=clamping_note(r.activated_on) if r.activated_on else None,
    )
