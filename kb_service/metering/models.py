"""Metering: an append-only ledger of model usage, aggregated per day on read.

Only counts are kept — never the text that was embedded or asked.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kb_service.db import Base, UTCDateTime, utcnow


class UsageEvent(Base):
    __tablename__ = "usage_events"
    __table_args__ = (Index("ix_usage_events_resource_day", "resource_id", "day"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    day: Mapped[date] = mapped_column(Date)
    model_id: Mapped[str] = mapped_column(String(100))
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    api_calls: Mapped[int] = mapped_column(Integer, default=0)
    genai_units: Mapped[float] = mapped_column(Float, default=0.0)
    # What caused it: "ingestion", "chunk_job", "query", "gateway".
    source: Mapped[str] = mapped_column(String(20))
    # The document, chunk job or knowledge base on whose behalf the call was made.
    reference_id: Mapped[str | None] = mapped_column(String(32))
