"""Provisioned resources: embeddings, knowledge bases (and, with the control plane, text generation).

A knowledge base is always linked to exactly one embeddings resource; its vector dimension follows
that resource's model.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kb_service.db import Base, UTCDateTime, new_id, utcnow


class ResourceType(StrEnum):
    TEXT_GENERATION = "text_generation"
    EMBEDDINGS = "embeddings"
    KNOWLEDGE_BASE = "knowledge_base"


class ResourceStatus(StrEnum):
    ACTIVE = "active"
    DEPROVISIONING_SCHEDULED = "deprovisioning_scheduled"
    PLAN_DOWNGRADE_SCHEDULED = "plan_downgrade_scheduled"
    DEPROVISIONED = "deprovisioned"


class Resource(Base):
    __tablename__ = "resources"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(32), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(40), default=ResourceStatus.ACTIVE)
    region: Mapped[str] = mapped_column(String(40), default="eu-central-1")
    environment: Mapped[str] = mapped_column(String(20), default="Test")
    # Embeddings resources: the one model and its vector dimension.
    model_id: Mapped[str | None] = mapped_column(String(100))
    dimension: Mapped[int | None] = mapped_column(Integer)
    # Knowledge bases: the linked embeddings resource that embeds (and is metered for) its content.
    embeddings_resource_id: Mapped[str | None] = mapped_column(
        ForeignKey("resources.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # --- control plane. Resources made by the data-plane CLI have no company and no capacity. ---
    company_id: Mapped[str | None] = mapped_column(
        ForeignKey("companies.id", ondelete="RESTRICT"), index=True
    )
    cross_region_inference: Mapped[bool] = mapped_column(Boolean, default=False)
    # Plan era: "S" / "M" / "L" (or "Standard" for a KB); None for a Cloud Token amount.
    plan: Mapped[str | None] = mapped_column(String(20))
    # Cloud Tokens allocated per month; 1 token = 100 GU. KBs cost tokens but have no GU capacity.
    capacity_tokens: Mapped[int] = mapped_column(Integer, default=0)
    default_model_id: Mapped[str | None] = mapped_column(String(100))
    created_for_name: Mapped[str | None] = mapped_column(String(200))
    created_for_email: Mapped[str | None] = mapped_column(String(320))
    # Bundle months run from this day of the month; the refill happens on it.
    activated_on: Mapped[date | None] = mapped_column(Date)
    deprovision_on: Mapped[date | None] = mapped_column(Date, index=True)
    # A capacity decrease or plan downgrade waiting for the next bundle month.
    pending_plan: Mapped[str | None] = mapped_column(String(20))
    pending_capacity_tokens: Mapped[int | None] = mapped_column(Integer)
    pending_change_on: Mapped[date | None] = mapped_column(Date, index=True)

    # join_depth: a self-referential relationship is joined only this many levels deep — without
    # it, "joined" loads nothing eagerly and every KB's first use of it is one more SELECT.
    embeddings_resource: Mapped[Resource | None] = relationship(remote_side=[id], lazy="joined", join_depth=1)


class ResourceModel(Base):
    """The models enabled on a text-generation resource (one key reaches all of them)."""

    __tablename__ = "resource_models"

    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(100), primary_key=True)
