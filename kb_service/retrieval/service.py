"""Search: vector, keyword or hybrid candidates from the store, then optional reranking, diversity
and a per-document cap.

The query is embedded (metered against the KB's linked embeddings resource, as a `search_query`)
only when a vector leg or a similarity threshold needs it; keyword mode embeds nothing. Reranking is
metered against the same resource as the provider bills it. README "Retrieval choices" says why.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from kb_service.capacity.service import CapacityService
from kb_service.embedders.base import EmbedderError, TransientEmbedderError
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.errors import (
    BadRequest,
    InvalidInput,
    UpstreamRejected,
    UpstreamUnavailable,
    translate_store_errors,
)
from kb_service.metering.service import MeteringService
from kb_service.resources.models import Resource
from kb_service.retrieval.diversity import cap_per_source, mmr_order
from kb_service.retrieval.filters import metadata_equals, parse_filter
from kb_service.retrieval.rerankers.base import (
    Reranker,
    RerankerError,
    RerankUsage,
    TransientRerankerError,
    rerank_genai_units,
)
from kb_service.vectorstores.base import (
    Chunk,
    Filter,
    In,
    Leg,
    RankedHit,
    SearchPlan,
    SearchQuery,
    Vector,
    VectorStore,
    all_of,
)
from schemas.retrieval import DEFAULT_CANDIDATES, HybridOptions, SearchMode, SearchRequest


@dataclass(frozen=True, slots=True)
class ScoredHit:
    chunk: Chunk
    # What the hit was ranked by (cosine, BM25, RRF or rerank score); see SearchResult.score.
    score: float
    # Cosine to the query embedding; None when the query was not embedded.
    similarity: float | None
    legs: frozenset[Leg]
    rerank_score: float | None = None


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    hits: list[ScoredHit]
    input_tokens: int
    model_id: str
    mode: SearchMode
    rerank: RerankUsage | None = None
    # How the store found the candidates (None when it searched nothing).
    plan: SearchPlan | None = None


class RetrievalService:
    def __init__(
        self,
        kb: Resource,
        store: VectorStore,
        embedders: EmbedderRegistry,
        capacity: CapacityService,
        metering: MeteringService,
        reranker: Reranker | None = None,
    ) -> None:
        self._kb = kb
        self._store = store
        self._embedders = embedders
        self._capacity = capacity
        self._metering = metering
        self._reranker = reranker

    def search(self, request: SearchRequest) -> SearchOutcome:
        # Validate everything before spending tokens on the query.
        where = self._where(request)
        if request.mode == "keyword" and request.min_similarity is not None:
            raise InvalidInput(
                "min_similarity needs the query embedding; use mode `vector` or `hybrid`, or drop it.",
                field="min_similarity",
            )
        if request.rerank and self._reranker is None:
            raise BadRequest(
                "This deployment has no reranker: set KB_RERANK__PROVIDER=cohere and KB_COHERE__API_KEY "
                "to use `rerank` (no local cross-encoder installs offline).",
                field="rerank",
            )
        resource = self._kb.embeddings_resource
        assert resource is not None and resource.model_id is not None
        if request.mode != "keyword" or request.rerank:
            self._capacity.check_embeddings(resource)
        vector, tokens = self._embed(request.query) if request.mode != "keyword" else (None, 0)
        with translate_store_errors():
            hits, plan = self._candidates(request, where, vector)
        usage = None
        if request.rerank:
            hits, usage = self._rerank(request.query, hits)
        if request.diversity > 0.0:
            hits = self._diversify(hits, 1.0 - request.diversity)
        if request.max_chunks_per_document is not None:
            hits = cap_per_source(hits, request.max_chunks_per_document, _source_of)
        return SearchOutcome(
            hits[: request.max_results], tokens, resource.model_id, request.mode, usage, plan
        )

    def _candidates(
        self, request: SearchRequest, where: Filter | None, vector: Vector | None
    ) -> tuple[list[ScoredHit], SearchPlan | None]:
        depth = _depth(request)
        if request.mode == "vector":
            # The port's plain nearest-neighbour search: a vector search is what it always was.
            assert vector is not None
            found = self._store.search(
                self._kb.id, vector, k=depth, where=where, min_similarity=request.min_similarity
            )
            scored = [ScoredHit(hit.chunk, hit.similarity, hit.similarity, _VECTOR_ONLY) for hit in found]
            return scored, found.plan
        options = request.hybrid or HybridOptions()
        query = SearchQuery(
            k=depth,
            vector=vector,
            text=request.query,
            mode=request.mode,
            where=where,
            min_similarity=request.min_similarity,
            rrf_k=options.rrf_k,
            vector_weight=options.vector_weight,
            candidates=max(depth, request.candidates or DEFAULT_CANDIDATES),
        )
        ranked = self._store.search_chunks(self._kb.id, query)
        return [_scored(hit) for hit in ranked], ranked.plan

    @staticmethod
    def _where(request: SearchRequest) -> Filter | None:
        return all_of(
            In("collection", tuple(request.collections)) if request.collections else None,
            metadata_equals(request.metadata or {}),
            parse_filter(request.filter) if request.filter is not None else None,
        )

    def _embed(self, text: str) -> tuple[Vector, int]:
        resource = self._kb.embeddings_resource
        assert resource is not None and resource.model_id is not None
        try:
            embeddings = self._embedders.get(resource.model_id).embed([text], "search_query")
        except TransientEmbedderError as exc:
            raise UpstreamUnavailable(f"The embedding model is unavailable, try again: {exc}") from None
        except EmbedderError as exc:
            raise UpstreamRejected(f"The embedding model refused the query: {exc}") from None
        self._metering.record_embeddings(
            embeddings_resource_id=resource.id,
            model_id=resource.model_id,
            embeddings=embeddings,
            source="query",
            reference_id=self._kb.id,
        )
        return embeddings.vectors[0], embeddings.input_tokens

    def _rerank(self, text: str, hits: list[ScoredHit]) -> tuple[list[ScoredHit], RerankUsage]:
        """Reorder by the cross-encoder's score (ties keep the store's order) and meter the call."""
        assert self._reranker is not None and self._kb.embeddings_resource is not None
        try:
            reranked = self._reranker.rerank(text, [hit.chunk.text for hit in hits])
        except TransientRerankerError as exc:
            raise UpstreamUnavailable(f"The reranker is unavailable, try again: {exc}") from None
        except RerankerError as exc:
            raise UpstreamRejected(f"The reranker refused the request: {exc}") from None
        usage = reranked.usage
        self._metering.record_rerank(
            embeddings_resource_id=self._kb.embeddings_resource.id,
            model_id=usage.model_id,
            api_calls=usage.api_calls,
            search_units=usage.search_units,
            genai_units=rerank_genai_units(usage.model_id, usage.search_units),
            reference_id=self._kb.id,
        )
        order = sorted(range(len(hits)), key=lambda i: (-reranked.scores[i], i))
        return [
            replace(hits[i], score=reranked.scores[i], rerank_score=reranked.scores[i]) for i in order
        ], usage

    def _diversify(self, hits: list[ScoredHit], lambda_: float) -> list[ScoredHit]:
        if len(hits) < 2:
            return hits
        with translate_store_errors():
            stored = self._store.vectors_of(self._kb.id, [hit.chunk.chunk_id for hit in hits])
        dimension = next((len(v) for v in stored.values()), 1)
        missing = np.zeros(dimension, dtype=np.float32)
        vectors = np.vstack([stored.get(hit.chunk.chunk_id, missing) for hit in hits])
        return [hits[i] for i in mmr_order([hit.score for hit in hits], vectors, lambda_)]


_VECTOR_ONLY: frozenset[Leg] = frozenset({"vector"})


def _depth(request: SearchRequest) -> int:
    """How many hits to ask the store for: max_results, or the candidates that reranking, diversity
    or the per-document cap choose from."""
    choosing = request.rerank or request.diversity > 0.0 or request.max_chunks_per_document is not None
    if not choosing:
        return request.max_results
    return max(request.max_results, request.candidates or DEFAULT_CANDIDATES)


def _scored(hit: RankedHit) -> ScoredHit:
    return ScoredHit(hit.chunk, hit.score, hit.similarity, hit.legs)


def _source_of(hit: ScoredHit) -> tuple[str, str | None, str | None]:
    """A document's chunks share their document id; an app object's, its entity and object id."""
    chunk = hit.chunk
    if chunk.document_id is not None:
        return ("document", chunk.document_id, None)
    if chunk.mx_object_id is not None:
        return ("object", chunk.mx_entity, chunk.mx_object_id)
    return ("chunk", chunk.chunk_id, None)
