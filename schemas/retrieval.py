from __future__ import annotations

from typing import Any

from pydantic import Field

from schemas._base import Schema

FILTER_DESCRIPTION = """A filter over chunk metadata. A condition names a metadata `key` and one operator:
`{"key": "Status", "eq": "Solved"}`, `{"key": "Status", "ne": "Open"}` (also matches chunks without the key),
`{"key": "Type", "in": ["Bug", "Task"]}`, `{"key": "Type", "not_in": ["Epic"]}`,
`{"key": "Owner", "exists": true}`, `{"key": "Title", "starts_with": "How"}`,
a numeric range `{"key": "Priority", "gte": 2, "lt": 5}` or a date range
`{"key": "Created", "gte": "2024-01-01", "lt": "2024-02-01T00:00:00Z"}` (ISO 8601).
Combine with `{"and": [...]}`, `{"or": [...]}` and `{"not": {...}}`."""


class SearchRequest(Schema):
    query: str = Field(min_length=1, max_length=8000)
    collections: list[str] | None = Field(
        default=None, description="Collection names to search; all collections when absent."
    )
    max_results: int = Field(default=5, ge=1, le=100)
    min_similarity: float = Field(default=0.0, ge=0.0, le=1.0, description="Minimum cosine similarity.")
    metadata: dict[str, str] | None = Field(
        default=None, description="Exact-match metadata; every pair must match."
    )
    filter: dict[str, Any] | None = Field(default=None, description=FILTER_DESCRIPTION)


class SearchResult(Schema):
    chunk_id: str
    text: str
    similarity: float
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


class SearchResponse(Schema):
    results: list[SearchResult]
    input_tokens: int = Field(description="Input tokens metered for embedding the query.")
    model_id: str
