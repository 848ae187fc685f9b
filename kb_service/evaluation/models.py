"""Stored evaluation runs: labelled questions searched in one or more modes, with their figures, so a
knowledge base's retrieval quality can be compared over time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kb_service.db import Base, UTCDateTime, new_id, utcnow


class Evaluation(Base):
    __tablename__ = "evaluations"
    __table_args__ = (Index("ix_evaluations_kb_id_created_at", "kb_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kb_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who ran it: a user's email or "key:<key id>", as in the activity log.
    actor: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    # "completed", or "failed" when a search failed part-way (capacity, provider); `error` says why.
    status: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    k: Mapped[int] = mapped_column(Integer)
    modes: Mapped[list[str]] = mapped_column(JSON)
    question_count: Mapped[int] = mapped_column(Integer)
    # The request as given (questions, collections, filter), so a run can be repeated.
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Per mode: the mean metrics and latency figures.
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Per question: per mode its metrics, the ranks of its relevant items and its latency.
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
