from __future__ import annotations

from typing import Any, Literal, TypeAlias

from pydantic import Field, field_validator

from schemas._base import Schema

FILTER_DESCRIPTION = """A filter over chunk metadata. A condition names a metadata `key` and one operator:
`{"key": "Status", "eq": "Solved"}`, `{"key": "Status", "ne": "Open"}` (also matches chunks without the key),
`{"key": "Type", "in": ["Bug", "Task"]}`, `{"key": "Type", "not_in": ["Epic"]}`,
`{"key": "Owner", "exists": true}`, `{"key": "Title", "starts_with": "How"}`,
a numeric range `{"key": "Priority", "gte": 2, "lt": 5}` or a date range
`{"key": "Created", "gte": "2024-01-01", "lt": "2024-02-01T00:00:00Z"}` (ISO 8601).
Combine with `{"and": [...]}`, `{"or": [...]}` and `{"not": {...}}`."""


SearchMode: TypeAlias = Literal["vector", "keyword", "hybrid"]
Leg: TypeAlias = Literal["vector", "keyword"]

# Candidate depth when the request names none: per leg of a hybrid search, and what reranking,
# diversity and the per-document cap choose from (README, "Retrieval choices").
DEFAULT_CANDIDATES = 50
MAX_CANDIDATES = 200


class HybridOptions(Schema):
    vector_weight: float = Field(
        default=0.5,
        strict=True,
        ge=0.0,
        le=1.0,
        description="Weight of the vector leg in reciprocal rank fusion; 1 - this weighs the keyword leg.",
    )
    rrf_k: int = Field(
        default=60, strict=True, ge=1, le=1000, description="The reciprocal rank fusion constant k."
    )


class SearchRequest(Schema):
    query: str = Field(min_length=1, max_length=8000, description="The question; not blank.")
    mode: SearchMode = Field(
        default="vector",
        description=(
            "`vector`: nearest chunks by cosine to the query embedding. `keyword`: BM25 over the chunk "
            "text (embeds nothing, meters nothing). `hybrid`: both, fused by reciprocal rank fusion."
        ),
    )
    hybrid: HybridOptions | None = Field(default=None, description="Fusion options of `hybrid` mode.")
    collections: list[str] | None = Field(
        default=None, description="Collection names to search; all collections when absent."
    )
    max_results: int = Field(default=5, strict=True, ge=1, le=100)
    min_similarity: float | None = Field(
        default=None,
        strict=True,
        ge=-1.0,
        le=1.0,
        description=(
            "Minimum cosine similarity to the query, in [-1, 1]; null (the default) means no threshold, "
            "so max_results come back whenever that many chunks match the filters. Needs the vector "
            "leg: refused in `keyword` mode."
        ),
    )
    metadata: dict[str, str] | None = Field(
        default=None, description="Exact-match metadata; every pair must match."
    )
    filter: dict[str, Any] | None = Field(default=None, description=FILTER_DESCRIPTION)
    candidates: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        le=MAX_CANDIDATES,
        description=(
            f"How deep each leg searches and how many top hits reranking, `diversity` and "
            f"`max_chunks_per_document` choose from (at least max_results); {DEFAULT_CANDIDATES} when absent."
        ),
    )
    rerank: bool = Field(
        default=False,
        description=(
            "Reorder the top `candidates` with a cross-encoder (Cohere Rerank, metered on the linked "
            "embeddings resource). 400 when the deployment has no reranker (KB_RERANK__PROVIDER)."
        ),
    )
    diversity: float = Field(
        default=0.0,
        strict=True,
        ge=0.0,
        le=1.0,
        description=(
            "Maximal marginal relevance over the top `candidates` with lambda = 1 - diversity, using the "
            "chunks' stored vectors: 0 keeps the ranking, higher values push near-duplicates down."
        ),
    )
    max_chunks_per_document: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        description="At most this many results per document (files) or per app object (mx_object_id).",
    )

    @field_validator("query")
    @classmethod
    def _not_blank(cls, query: str) -> str:
        if not query.strip():
            raise ValueError("ask a question: the query is blank")
        return query


class SearchResult(Schema):
    chunk_id: str
    text: str
    score: float = Field(
        description=(
            "What the results are ranked by: the cosine (vector), the BM25 score (keyword), the fused RRF "
            "score (hybrid) or the rerank score (rerank). With diversity the order also weighs redundancy."
        )
    )
    similarity: float | None = Field(
        description="Cosine similarity to the query embedding; null when the query was not embedded."
    )
    legs: list[Leg] = Field(description="Which legs found the chunk.")
    rerank_score: float | None = Field(
        default=None, description="The cross-encoder's relevance score, when reranked."
    )
    collection: str
    metadata: dict[str, str]
    document_id: str | None
    page: int | None
    human_readable_id: str | None
    mx_object_id: str | None
    mx_entity: str | None
    knowledge: str | None = Field(
        description="The reserved metadata key `knowledge`: text to hand to the model instead of `text`."
    )
    sourceUrl: str | None = Field(description="The reserved metadata key `sourceUrl`: a reference link.")


class RerankInfo(Schema):
    model_id: str
    search_units: int = Field(
        description="Search units the provider billed (metered on the embeddings resource)."
    )


class SearchPlanInfo(Schema):
    kind: str = Field(
        description=(
            "The access path of the vector store. Embedded store: `slice-scan` (one contiguous run of "
            "rows scored whole), `bitmap-gather` (the matching rows' span walked step by step), "
            "`candidate-list` (the few matching rows gathered) or `keyword-only`; OpenSearch: "
            "`opensearch-knn` (approximate HNSW) or `opensearch-exact` (brute-force fallback)."
        ),
        examples=["slice-scan"],
    )
    exact: bool = Field(
        description="True when the vector candidates are exactly those of a brute-force scan (recall 1.0)."
    )
    quantized: bool = Field(
        default=False,
        description="Pre-scored on an int8 copy, then the candidates within its error bound rescored.",
    )
    scanned: int | None = Field(default=None, description="Rows the store scored.")
    rescored: int | None = Field(default=None, description="Candidates rescored on float vectors (int8).")


class SearchResponse(Schema):
    results: list[SearchResult]
    mode: SearchMode = Field(description="The mode that ran.")
    input_tokens: int = Field(description="Input tokens metered for embedding the query (0 in keyword mode).")
    model_id: str
    rerank: RerankInfo | None = Field(
        default=None, description="The reranker that ran, when `rerank` was asked."
    )
    plan: SearchPlanInfo | None = Field(
        default=None, description="How the vector store found the candidates, and whether that is exact."
    )
