"""How resources read on the wire (`/v1`, the CLI) and in the portal."""

from __future__ import annotations

from kb_service.capacity.periods import clamping_note
from kb_service.capacity.plans import allocation_gu
from kb_service.resources.models import Resource, ResourceStatus
from kb_service.resources.service import ResourceView, SettingsView
from kb_service.teams.service import accept_url
from schemas.resources import (
    CreatedFor,
    CreatedForInvitation,
    Provisioned,
    ResourceOut,
    ResourceSettings,
    ScheduledChange,
)

CLOUD_PROVIDER = "AWS"


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


def provisioned_out(view: ResourceView) -> Provisioned:
    issued = view.invitation
    invitation = (
        CreatedForInvitation(
            id=issued.invitation.id,
            email=issued.invitation.email,
            expires_at=issued.invitation.expires_at,
            accept_url=accept_url(issued.token),
        )
        if issued is not None
        else None
    )
    return Provisioned(**resource_out(view).model_dump(), invitation=invitation)


def settings_out(settings: SettingsView) -> ResourceSettings:
    r = settings.view.resource
    return ResourceSettings(
        **resource_out(settings.view).model_dump(),
        company_id=settings.company.id,
        company_name=settings.company.name,
        regions=[r.region],
        cross_region_inference=r.cross_region_inference,
        cloud_provider=CLOUD_PROVIDER,
        available_models=settings.view.models,
        region_models=settings.region_models,
        linked_knowledge_base_ids=settings.linked_knowledge_base_ids,
        embeddings_resource_id=r.embeddings_resource_id,
        refill_on=settings.refill_on,
        bundle_month_note=clamping_note(r.activated_on) if r.activated_on else None,
    )
