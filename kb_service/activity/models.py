"""The activity log per resource: who did what, when. Never content, prompts or secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kb_service.db import Base, UTCDateTime, utcnow


class ActivityEntry(Base):
    __tablename__ = "activity_entries"
    __table_args__ = (Index("ix_activity_entries_resource_time", "resource_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A user's email, or "key:<key id>" for data-plane calls made with an API key.
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(60))
    # Ids and names only (key id, document id, file name, member email).
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
