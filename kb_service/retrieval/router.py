"""The search route: chunks for a question by vector, keyword or hybrid search, optionally
reranked and diversified, narrowed by collection and metadata."""

from __future__ import annotations

from fastapi import APIRouter

from kb_service.auth.deps import KnowledgeBaseDep
from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.errors import (
    BadRequest,
    CapacityExhausted,
    Gone,
    NotFound,
    UpstreamRejected,
    UpstreamUnavailable,
    documented,
)
from kb_service.retrieval.presenters import search_response
from schemas.retrieval import SearchRequest, SearchResponse

router = APIRouter(route_class=UnitOfWorkRoute, prefix="/v1/knowledge-bases/{kb_id}", tags=["search"])


@router.post(
    "/search",
    responses=documented(
        Gone, BadRequest, NotFound, CapacityExhausted, UpstreamRejected, UpstreamUnavailable
    ),
)
def search(kb: KnowledgeBaseDep, services: ServicesDep, body: SearchRequest) -> SearchResponse:
    return search_response(services.retrieval(kb).search(body))
