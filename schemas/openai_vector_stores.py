"""Wire contracts of the OpenAI-compatible vector-store API (`/v1/vector_stores`, `/v1/files`).

The shapes are OpenAI's, as the official `openai` Python SDK types them (`openai.types.VectorStore`,
`VectorStoreSearchResponse`, `vector_stores.VectorStoreFile`, `FileObject`): a client written for
OpenAI reads these responses unchanged. Errors keep the service's one error body (schemas._base).
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr

from schemas._base import Schema

# An attribute value: a string, a number or a boolean, as OpenAI allows.
AttributeValue: TypeAlias = StrictStr | StrictBool | StrictInt | StrictFloat
Attributes: TypeAlias = dict[str, AttributeValue]
MAX_NUM_RESULTS = 50

ATTRIBUTES_DESCRIPTION = (
    "Up to 16 key-value pairs (strings, numbers or booleans). The key `collection` picks the knowledge "
    "base collection the file goes to (the default collection when absent); every other pair becomes a "
    "metadata entry of the document, stored as a string (numbers as written, booleans as "
    "`true` / `false`), which filters and search results then carry."
)


# --- requests ---------------------------------------------------------------------------------------


class ComparisonFilter(Schema):
    key: str = Field(min_length=1, description="The attribute to compare (`collection` or a metadata key).")
    type: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"]
    value: AttributeValue | list[StrictStr | StrictInt | StrictFloat] = Field(
        description="A string, number or boolean; a list for `in` / `nin`."
    )


class CompoundFilter(Schema):
    type: Literal["and", "or"]
    filters: list[ComparisonFilter | CompoundFilter] = Field(description="The filters to combine.")


class RankingOptions(Schema):
    ranker: Literal["none", "auto", "default-2024-11-15"] = Field(
        default="auto",
        description="`none`: the store's ranking. `auto` / `default-2024-11-15`: rerank with the "
        "deployment's cross-encoder when it has one (metered like `rerank` of the REST search).",
    )
    score_threshold: float | None = Field(
        default=None,
        strict=True,
        ge=0.0,
        le=1.0,
        description="Only results with at least this cosine similarity.",
    )


class VectorStoreSearchRequest(Schema):
    query: str | list[str] = Field(description="The question; a list is joined into one query.")
    filters: ComparisonFilter | CompoundFilter | None = Field(
        default=None, description="A filter over file attributes, translated into the search `filter`."
    )
    max_num_results: int = Field(
        default=10, strict=True, ge=1, le=MAX_NUM_RESULTS, description="1-50 results."
    )
    ranking_options: RankingOptions | None = None
    rewrite_query: bool = Field(default=False, description="Not supported: `true` is a 400.")


class ChunkingStrategyParam(Schema):
    type: Literal["auto", "static"]
    static: dict[str, int] | None = None


class VectorStoreFileCreate(Schema):
    file_id: str = Field(min_length=1, description="A file uploaded with `POST /v1/files`.")
    attributes: Attributes | None = Field(default=None, description=ATTRIBUTES_DESCRIPTION)
    chunking_strategy: ChunkingStrategyParam | None = Field(
        default=None, description="Only `auto`: the knowledge base chunks files its own way."
    )


class VectorStoreFileUpdate(Schema):
    attributes: Attributes | None = Field(description=ATTRIBUTES_DESCRIPTION + " Replaces them all.")


# --- responses --------------------------------------------------------------------------------------


class FileCounts(Schema):
    in_progress: int
    completed: int
    failed: int
    cancelled: int
    total: int


class VectorStoreOut(Schema):
    id: str
    object: Literal["vector_store"] = "vector_store"
    created_at: int = Field(description="Unix seconds.")
    name: str
    usage_bytes: int = Field(description="Bytes of the files that are not failed.")
    file_counts: FileCounts
    status: Literal["expired", "in_progress", "completed"] = Field(
        description="`in_progress` while any file is being processed, else `completed`."
    )
    expires_after: None = None
    expires_at: None = None
    last_active_at: int | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class VectorStoreList(Schema):
    object: Literal["list"] = "list"
    data: list[VectorStoreOut]
    first_id: str | None
    last_id: str | None
    has_more: bool


class TextContent(Schema):
    type: Literal["text"] = "text"
    text: str


class SearchResultOut(Schema):
    file_id: str = Field(
        description="The file's id; for a chunk pushed by an app (no file), `chunk-<chunk id>`."
    )
    filename: str = Field(description="The file's name; a pushed chunk's human-readable id.")
    score: float
    attributes: dict[str, AttributeValue]
    content: list[TextContent]


class VectorStoreSearchPage(Schema):
    object: Literal["vector_store.search_results.page"] = "vector_store.search_results.page"
    search_query: list[str]
    data: list[SearchResultOut]
    has_more: bool = False
    next_page: str | None = None


class LastError(Schema):
    code: Literal["server_error", "unsupported_file", "invalid_file"]
    message: str


class OtherChunkingStrategy(Schema):
    type: Literal["other"] = "other"


class VectorStoreFileOut(Schema):
    id: str
    object: Literal["vector_store.file"] = "vector_store.file"
    created_at: int
    usage_bytes: int
    vector_store_id: str
    status: Literal["in_progress", "completed", "cancelled", "failed"]
    last_error: LastError | None
    attributes: dict[str, AttributeValue]
    chunking_strategy: OtherChunkingStrategy = Field(default_factory=OtherChunkingStrategy)


class VectorStoreFileList(Schema):
    object: Literal["list"] = "list"
    data: list[VectorStoreFileOut]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VectorStoreFileDeleted(Schema):
    id: str
    object: Literal["vector_store.file.deleted"] = "vector_store.file.deleted"
    deleted: bool = True


class FileOut(Schema):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: Literal["assistants"]
    status: Literal["uploaded", "processed", "error"] = "processed"
    expires_at: int | None = None
    status_details: str | None = None


FileStatusFilter: TypeAlias = Literal["in_progress", "completed", "failed", "cancelled"]
ListLimit = Annotated[int, Field(ge=1, le=100, description="Items per page, 1-100.")]
