"""The search route: nearest chunks to a question, narrowed by collection and metadata."""

from __future__ import annotations

from fastapi import APIRouter

from kb_service.deps import RetrievalServiceDep
from kb_service.errors import CapacityExhausted, NotFound, UpstreamRejected, UpstreamUnavailable
from kb_service.openapi import errors
from kb_service.vectorstores.base import SearchHit
from schemas.retrieval import SearchRequest, SearchResponse, SearchResult

router = APIRouter(prefix="/v1/knowledge-bases/{kb_id}", tags=["search"])


@router.post("/search", responses=errors(NotFound, CapacityExhausted, UpstreamRejected, UpstreamUnavailable))
def search(service: RetrievalServiceDep, body: SearchRequest) -> SearchResponse:
    outcome = service.search(body)
    return SearchResponse(
        results=[search_result(hit) for hit in outcome.hits],
        input_tokens=outcome.input_tokens,
        model_id=outcome.model_id,
    )


def search_result(hit: SearchHit) -> SearchResult:
    chunk = hit.chunk
    return SearchResult(
        chunk_id=chunk.chunk_id,
        text=chunk.text,
        similarity=round(hit.similarity, 6),
        collection=chunk.collection,
        metadata=dict(chunk.metadata),
        document_id=chunk.document_id,
        page=chunk.page,
        human_readable_id=chunk.human_readable_id,
        mx_object_id=chunk.mx_object_id,
        mx_entity=chunk.mx_entity,
        knowledge=chunk.metadata.get("knowledge"),
        sourceUrl=chunk.metadata.get("sourceUrl"),
    )
