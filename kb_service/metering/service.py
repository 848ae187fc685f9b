"""Metering: the only writer of usage events.

Embeddings meter input tokens only, one API call per billed response; text generation meters input
and output tokens; both at the model's GU rates from the catalog, against the resource whose key (or
whose linked knowledge base) caused the call, on the day it happened. Nothing about the text is kept.
"""

from __future__ import annotations

import structlog

from kb_service.catalog import get_model
from kb_service.clock import Clock
from kb_service.embedders.base import Embeddings
from kb_service.metering.models import UsageEvent
from kb_service.metering.repository import UsageRepository

log = structlog.get_logger(__name__)


class MeteringService:
    def __init__(self, usage: UsageRepository, clock: Clock) -> None:
        self._usage = usage
        self._clock = clock

    def record_embeddings(
        self,
        *,
        embeddings_resource_id: str,
        model_id: str,
        embeddings: Embeddings,
        source: str,
        reference_id: str | None,
    ) -> None:
        if not embeddings.calls:
            return
        tokens = embeddings.input_tokens
        self._record(
            embeddings_resource_id,
            model_id,
            input_tokens=tokens,
            output_tokens=0,
            api_calls=len(embeddings.calls),
            genai_units=get_model(model_id).genai_units(tokens),
            source=source,
            reference_id=reference_id,
        )

    def record_rerank(
        self,
        *,
        embeddings_resource_id: str,
        model_id: str,
        api_calls: int,
        search_units: int,
        genai_units: float,
        reference_id: str | None,
    ) -> None:
        """A search's rerank, as the provider billed it (API calls, search units), against the KB's
        linked embeddings resource. The ledger has token columns only, so the search units are in
        the GU (units × the reranker's rate) and the log event; input tokens stay 0."""
        if not api_calls:
            return
        self._record(
            embeddings_resource_id,
            model_id,
            input_tokens=0,
            output_tokens=0,
            api_calls=api_calls,
            genai_units=genai_units,
            source="rerank",
            reference_id=reference_id,
        )
        log.info(
            "metering.rerank",
            resource_id=embeddings_resource_id,
            model_id=model_id,
            search_units=search_units,
            genai_units=round(genai_units, 4),
        )

    def record_text_call(
        self, resource_id: str, model_id: str, input_tokens: int, output_tokens: int
    ) -> float:
        """One text-generation call's tokens at the model's in/out rates; the GU it cost. The caller
        (the gateway) has resolved the resource and checked that the model is enabled on it."""
        units = get_model(model_id).genai_units(input_tokens, output_tokens)
        self._record(
            resource_id,
            model_id,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            api_calls=1,
            genai_units=units,
            source="gateway",
            reference_id=None,
        )
        log.info("metering.text_call", resource_id=resource_id, genai_units=round(units, 4))
        return units

    def _record(
        self,
        resource_id: str,
        model_id: str,
        *,
        input_tokens: int,
        output_tokens: int,
        api_calls: int,
        genai_units: float,
        source: str,
        reference_id: str | None,
    ) -> None:
        now = self._clock.now()
        self._usage.add(
            UsageEvent(
                resource_id=resource_id,
                occurred_at=now,
                day=now.date(),
                model_id=model_id,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                api_calls=api_calls,
                genai_units=genai_units,
                source=source,
                reference_id=reference_id,
            )
        )
