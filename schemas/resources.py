from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from schemas._base import Schema

ResourceTypeName = Literal["text_generation", "embeddings", "knowledge_base"]
Environment = Literal["Test", "Acceptance", "Production"]
Region = Literal["eu-central-1", "ca-central-1"]
PlanName = Literal["S", "M", "L", "Standard"]
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class CreatedFor(Schema):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=EMAIL_PATTERN, max_length=320)


class ProvisionRequest(Schema):
    type: ResourceTypeName
    display_name: str = Field(min_length=1, max_length=200)
    environment: Environment
    region: Region
    cross_region_inference: bool | None = Field(
        default=None, description="Default: on for text generation, off otherwise."
    )
    models: list[str] = Field(
        default_factory=list,
        description="Text: one or more Claude models; embeddings: exactly one Cohere Embed model; KB: none.",
    )
    default_model: str | None = Field(default=None, description="Text only; one of `models`.")
    plan: PlanName | None = Field(default=None, description="A preset size (S / M / L; a KB is Standard).")
    cloud_tokens: int | None = Field(
        default=None, strict=True, description="Or Cloud Tokens per month (1 = 100 GU)."
    )
    created_for: CreatedFor
    embeddings_resource_id: str | None = Field(default=None, description="KB only: the linked resource.")


class Specification(Schema):
    """What provisioning would create and cost, for review before confirming."""

    type: ResourceTypeName
    display_name: str
    environment: Environment
    region: Region
    cross_region_inference: bool
    models: list[str]
    default_model: str | None
    plan: str | None
    cloud_tokens: int
    genai_units_per_month: int
    balance_before: int
    balance_after: int
    embeddings_resource_id: str | None
    created_for: CreatedFor


class ScheduledChange(Schema):
    on: date
    plan: str | None
    cloud_tokens: int
    genai_units_per_month: int


class ResourceOut(Schema):
    id: str
    type: ResourceTypeName
    display_name: str
    status: str
    status_label: str
    environment: str
    region: str
    models: list[str]
    default_model: str | None
    plan: str | None
    cloud_tokens: int
    genai_units_per_month: int
    created_for: CreatedFor | None
    activated_on: date | None
    deprovision_on: date | None
    scheduled_change: ScheduledChange | None
    created_at: datetime


class ResourceSettings(ResourceOut):
    company_id: str
    company_name: str
    regions: list[str] = Field(description="Where requests may run (more than one with CRI).")
    cross_region_inference: bool
    cloud_provider: str
    available_models: list[str] = Field(
        description="The models enabled on the resource (what its keys reach)."
    )
    region_models: list[str] = Field(description="The catalog's models of this type offered in the region.")
    linked_knowledge_base_ids: list[str]
    embeddings_resource_id: str | None
    refill_on: date | None
    bundle_month_note: str | None


class CreatedForInvitation(Schema):
    """The invitation of a `created_for` user outside the company; its link is in this response only."""

    id: str
    email: str
    expires_at: datetime
    accept_url: str


class Provisioned(ResourceOut):
    invitation: CreatedForInvitation | None = Field(
        default=None,
        description="Set when `created_for` is not a user of the company: the external invitation sent.",
    )


class ModelsChange(Schema):
    models: list[str] = Field(
        min_length=1,
        max_length=20,
        description="Text: the Claude models to enable; embeddings: exactly one Cohere Embed model.",
    )
    default_model: str | None = Field(
        default=None, description="Text only; must be among `models` (kept if it still is)."
    )


class ResourceUpdate(Schema):
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    environment: Environment | None = None
    default_model: str | None = None


class CapacityChange(Schema):
    plan: PlanName | None = None
    cloud_tokens: int | None = Field(default=None, strict=True)
