"""Provisioned resources: embeddings, knowledge bases (and, with the control plane, text generation).

A knowledge base is always linked to exactly one embeddings resource; its vector dimension follows
that resource's model.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kb_service.db import Base, UTCDateTime, new_id, utcnow


class ResourceType(StrEnum):
    TEXT_GENERATION = "text_generation"
    EMBEDDINGS = "embeddings"
    KNOWLEDGE_BASE = "knowledge_base"


class ResourceStatus(StrEnum):
    ACTIVE = "active"
    DEPROVISIONING_SCHEDULED = "deprovisioning_scheduled"
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

    embeddings_resource: Mapped[Resource | None] = relationship(remote_side=[id], lazy="joined")
