"""Similarity search: embed the question with the KB's linked embeddings model (metered against that
resource, as a `search_query`), then ask the store for the nearest chunks under the filters."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from kb_service.capacity.service import CapacityService
from kb_service.clock import SystemClock
from kb_service.embedders.base import EmbedderError, TransientEmbedderError
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.errors import UpstreamRejected, UpstreamUnavailable
from kb_service.metering.service import MeteringService
from kb_service.resources.models import Resource
from kb_service.retrieval.filters import metadata_equals, parse_filter
from kb_service.vectorstores.base import In, SearchHit, VectorStore, all_of
from schemas.retrieval import SearchRequest


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    hits: list[SearchHit]
    input_tokens: int
    model_id: str


class RetrievalService:
    def __init__(
        self, session: Session, kb: Resource, store: VectorStore, embedders: EmbedderRegistry
    ) -> None:
        self._session = session
        self._kb = kb
        self._store = store
        self._embedders = embedders

    def search(self, request: SearchRequest) -> SearchOutcome:
        # Validate everything before spending tokens on the query.
        where = all_of(
            In("collection", tuple(request.collections)) if request.collections else None,
            metadata_equals(request.metadata or {}),
            parse_filter(request.filter) if request.filter is not None else None,
        )
        embeddings_resource = self._kb.embeddings_resource
        assert embeddings_resource is not None and embeddings_resource.model_id is not None
        CapacityService(self._session, SystemClock()).check_embeddings(embeddings_resource)
        model_id = embeddings_resource.model_id
        embedder = self._embedders.get(model_id)
        try:
            embeddings = embedder.embed([request.query], "search_query")
        except TransientEmbedderError as exc:
            raise UpstreamUnavailable(f"The embedding model is unavailable, try again: {exc}") from None
        except EmbedderError as exc:
            raise UpstreamRejected(f"The embedding model refused the query: {exc}") from None
        MeteringService(self._session).record_embeddings(
            embeddings_resource_id=embeddings_resource.id,
            model_id=model_id,
            embeddings=embeddings,
            source="query",
            reference_id=self._kb.id,
        )
        hits = self._store.search(
            self._kb.id,
            embeddings.vectors[0],
            k=request.max_results,
            where=where,
            min_similarity=request.min_similarity,
        )
        return SearchOutcome(hits, embeddings.input_tokens, model_id)
