"""Search hits as they read on the wire."""

from __future__ import annotations

from kb_service.retrieval.service import ScoredHit, SearchOutcome
from kb_service.vectorstores.base import Leg, SearchPlan
from schemas.retrieval import RerankInfo, SearchPlanInfo, SearchResponse, SearchResult

_LEG_ORDER: tuple[Leg, ...] = ("vector", "keyword")


def search_result(hit: ScoredHit) -> SearchResult:
    chunk = hit.chunk
    return SearchResult(
        chunk_id=chunk.chunk_id,
        text=chunk.text,
        score=round(hit.score, 6),
        similarity=None if hit.similarity is None else round(hit.similarity, 6),
        legs=[leg for leg in _LEG_ORDER if leg in hit.legs],
        rerank_score=None if hit.rerank_score is None else round(hit.rerank_score, 6),
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


def search_response(outcome: SearchOutcome) -> SearchResponse:
    usage = outcome.rerank
    return SearchResponse(
        results=[search_result(hit) for hit in outcome.hits],
        mode=outcome.mode,
        input_tokens=outcome.input_tokens,
        model_id=outcome.model_id,
        rerank=None
        if usage is None
        else RerankInfo(model_id=usage.model_id, search_units=usage.search_units),
        plan=None if outcome.plan is None else search_plan(outcome.plan),
    )


def search_plan(plan: SearchPlan) -> SearchPlanInfo:
    return SearchPlanInfo(
        kind=plan.kind,
        exact=plan.exact,
        quantized=plan.quantized,
        scanned=plan.scanned,
        rescored=plan.rescored,
    )
