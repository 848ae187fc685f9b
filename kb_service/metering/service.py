"""Metering of embedding calls against the knowledge base's linked embeddings resource.

Input tokens only (embeddings have no output tokens); one API call per billed response; GU at the
model's rate from the catalog. Nothing about the text is recorded.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from kb_service.catalog import get_model
from kb_service.db import utcnow
from kb_service.embedders.base import Embeddings
from kb_service.metering.models import UsageEvent
from kb_service.metering.repository import UsageRepository


class MeteringService:
    def __init__(self, session: Session) -> None:
        self._usage = UsageRepository(session)

    def record_embeddings(
        self,
        *,
        embeddings_resource_id: str,
        model_id: str,
        embeddings: Embeddings,
        source: str,
        reference_id: str | None,
        now: datetime | None = None,
    ) -> None:
        if not embeddings.calls:
            return
        now = now or utcnow()
        tokens = embeddings.input_tokens
        self._usage.add(
            UsageEvent(
                resource_id=embeddings_resource_id,
                occurred_at=now,
                day=now.date(),
                model_id=model_id,
                input_tokens=tokens,
                output_tokens=0,
                api_calls=len(embeddings.calls),
                genai_units=get_model(model_id).genai_units(tokens),
                source=source,
                reference_id=reference_id,
            )
        )
