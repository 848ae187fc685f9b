"""The legs of an OpenSearch search and their fusion: a filtered k-NN request (with the exact
fallback), a `match` request inside the same filter, reciprocal rank fusion (`shared.fuse`, the same code
as the embedded store) and one exact look-up of the cosines only the keyword leg lacks. Functions of a
`run(body)` bound to the knowledge base's alias; the store owns the client and its retries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import structlog

from kb_service.vectorstores._keyword import terms
from kb_service.vectorstores._opensearch_query import (
    exact_body,
    keyword_body,
    knn_body,
    similarity_body,
    similarity_from_exact_score,
    similarity_from_knn_score,
)
from kb_service.vectorstores._opensearch_schema import chunk_from_source
from kb_service.vectorstores.base import Chunk, Filter, Hits, RankedHit, SearchHit, SearchPlan, SearchQuery
from kb_service.vectorstores.shared import fuse, legs_of

log = structlog.get_logger(__name__)

JSON = dict[str, Any]
Run = Callable[[JSON], Any]
Count = Callable[[Filter | None], int]
MAX_K: Final = 10_000
_MAX_K = MAX_K


def rank_hits(
    kb_id: str, run: Run, count: Count, query: SearchQuery, values: list[float] | None
) -> Hits[RankedHit]:
    """The query's hits, best first (`values` is the checked query vector, if any), with the plan:
    "opensearch-knn" (approximate, so not exact) or "opensearch-exact" when the exact fallback ran."""
    depth = min(query.depth, _MAX_K) if query.mode == "hybrid" else query.k
    vector_leg: list[tuple[Chunk, float]] = []
    keyword_leg: list[tuple[Chunk, float]] = []
    plan = SearchPlan("keyword-only", True)
    if query.mode != "keyword":
        assert values is not None
        vector_leg, exact = _vector_leg(kb_id, run, count, values, depth, query)
        plan = SearchPlan("opensearch-exact" if exact else "opensearch-knn", exact)
    if query.mode != "vector":
        keyword_leg = _keyword_leg(run, values, depth, query)
    cosines = {chunk.chunk_id: cosine for chunk, cosine in vector_leg}
    missing = [chunk.chunk_id for chunk, _ in keyword_leg if chunk.chunk_id not in cosines]
    if values is not None and missing:
        cosines |= _cosines(run, values, missing)
    if query.mode == "vector":
        return Hits(
            (
                RankedHit(chunk, cosine, cosine, frozenset({"vector"}), rank)
                for rank, (chunk, cosine) in enumerate(vector_leg, 1)
            ),
            plan,
        )
    if query.mode == "keyword":
        return Hits(
            (
                RankedHit(chunk, score, cosines.get(chunk.chunk_id), frozenset({"keyword"}), None, rank)
                for rank, (chunk, score) in enumerate(keyword_leg, 1)
            ),
            plan,
        )
    chunks = {chunk.chunk_id: chunk for chunk, _ in (*vector_leg, *keyword_leg)}
    fused = fuse(
        query, [chunk.chunk_id for chunk, _ in vector_leg], [chunk.chunk_id for chunk, _ in keyword_leg]
    )
    return Hits(
        (
            RankedHit(
                chunks[chunk_id],
                score,
                cosines.get(chunk_id),
                legs_of(vector_rank, keyword_rank),
                vector_rank,
                keyword_rank,
            )
            for chunk_id, score, vector_rank, keyword_rank in fused[: query.k]
        ),
        plan,
    )


def _vector_leg(
    kb_id: str, run: Run, count: Count, values: list[float], k: int, query: SearchQuery
) -> tuple[list[tuple[Chunk, float]], bool]:
    """The k nearest chunks within the filter (above the threshold) and their cosines, and whether
    the exact fallback found them."""
    where = query.where
    response = run(knn_body(values, k, where))
    hits = search_hits(response, similarity_from_knn_score)
    exact = False
    if len(hits) < k:
        matching = count(where)
        exact = matching <= len(hits)  # every matching chunk came back
        if matching > len(hits):
            log.info(
                "vectorstore.opensearch.search.exact_fallback",
                kb_id=kb_id,
                k=k,
                approximate_hits=len(hits),
                matching=matching,
            )
            response = run(exact_body(values, k, where))
            hits = search_hits(response, similarity_from_exact_score)
            exact = True
    threshold = query.min_similarity
    return [
        (hit.chunk, hit.similarity) for hit in hits if threshold is None or hit.similarity >= threshold
    ], exact


def _keyword_leg(
    run: Run, values: list[float] | None, depth: int, query: SearchQuery
) -> list[tuple[Chunk, float]]:
    """The `depth` best chunks by BM25 within the filter. With a cosine threshold, chunks below
    it are dropped and deeper pages fetched until `depth` pass or the matches run out."""
    assert query.text is not None
    if not terms(query.text):
        return []
    threshold = query.min_similarity
    size = depth
    while True:
        response = run(keyword_body(query.text, size, query.where))
        found = [
            (chunk_from_source(hit["_source"]), float(hit["_score"])) for hit in response["hits"]["hits"]
        ]
        if threshold is None or values is None:
            return found
        cosines = _cosines(run, values, [chunk.chunk_id for chunk, _ in found])
        passing = [(chunk, score) for chunk, score in found if cosines[chunk.chunk_id] >= threshold]
        if len(passing) >= depth or len(found) < size or size >= _MAX_K:
            return passing[:depth]
        size = min(size * 4, _MAX_K)


def _cosines(run: Run, values: list[float], chunk_ids: list[str]) -> dict[str, float]:
    if not chunk_ids:
        return {}
    response = run(similarity_body(values, chunk_ids))
    return {
        str(hit["_id"]): similarity_from_exact_score(float(hit["_score"])) for hit in response["hits"]["hits"]
    }


def search_hits(response: Any, similarity: Callable[[float], float]) -> list[SearchHit]:
    return [
        SearchHit(chunk_from_source(hit["_source"]), similarity(float(hit["_score"])))
        for hit in response["hits"]["hits"]
    ]
