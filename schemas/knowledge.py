from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from schemas._base import Schema

WorkStatusName = Literal["queued", "parsing", "embedding", "indexing", "indexed", "failed", "paused"]
MAX_CHUNK_CHARS = 2048


class DocumentTimings(Schema):
    created_at: datetime
    started_at: datetime | None
    parsed_at: datetime | None
    embedded_at: datetime | None
    finished_at: datetime | None
    queue_seconds: float | None = Field(description="From upload to the start of processing.")
    processing_seconds: float | None = Field(description="From the start of processing to the end.")


class DocumentOut(Schema):
    id: str
    knowledge_base_id: str
    collection: str
    filename: str
    kind: Literal["pdf", "txt"]
    size_bytes: int
    sha256: str
    metadata: dict[str, str]
    status: WorkStatusName
    error: str | None = Field(description="Why the document failed, for humans; null unless failed.")
    pages: int | None
    chunk_count: int | None
    chunks_embedded: int
    input_tokens: int = Field(description="Embedding input tokens metered for this document.")
    replaces_document_id: str | None
    timings: DocumentTimings


class DocumentAccepted(Schema):
    id: str
    status: WorkStatusName
    collection: str
    unchanged: bool = Field(
        default=False,
        description="True when the same file with identical content was already in the collection; "
        "nothing new was queued and `id` is the existing document.",
    )


class CollectionOut(Schema):
    name: str
    is_default: bool
    document_count: int
    chunk_count: int
    created_at: datetime


class PushedChunk(Schema):
    # The 2,048-character cap is checked by the service, so the error can name the chunk.
    text: str = Field(min_length=1, description=f"At most {MAX_CHUNK_CHARS} characters.")
    human_readable_id: str = Field(min_length=1, max_length=500)
    mx_object_id: str | None = Field(default=None, max_length=200)
    mx_entity: str | None = Field(default=None, max_length=200)
    metadata: dict[str, str] = Field(default_factory=dict)


class ChunkJobCreate(Schema):
    mode: Literal["insert", "repopulate", "replace"]
    chunks: list[PushedChunk] = Field(
        description="For `repopulate` an empty list empties the collection. Chunks of at most 2,048 "
        "characters each."
    )


class MetadataPatch(Schema):
    """A metadata edit, applied in place (nothing is re-embedded): the map becomes `metadata` when
    given (else stays), then `set` is applied, then the `remove`d keys are dropped."""

    metadata: dict[str, str] | None = Field(
        default=None, description="Replace the whole metadata map with this one."
    )
    set: dict[str, str] = Field(default_factory=dict, description="Keys to add or overwrite.")
    remove: list[str] = Field(default_factory=list, description="Keys to drop (absent keys are fine).")


JobMode = Literal["insert", "repopulate", "replace", "metadata", "delete"]


class ChunkJobOut(Schema):
    id: str
    collection: str
    mode: JobMode = Field(
        description="`metadata` jobs apply a metadata edit in place, `delete` jobs remove app objects' "
        "chunks; their `chunk_count` is how many chunks they matched, known once indexed."
    )
    status: WorkStatusName
    error: str | None
    chunk_count: int | None
    input_tokens: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ChunkOut(Schema):
    chunk_id: str
    collection: str
    text: str
    metadata: dict[str, str]
    document_id: str | None
    page: int | None
    human_readable_id: str | None
    mx_object_id: str | None
    mx_entity: str | None


class DocumentMetadataUpdated(Schema):
    document: DocumentOut = Field(description="The document with its new metadata (already in effect here).")
    job: ChunkJobOut = Field(
        description="The `metadata` job that edits the document's chunks in the store, after the "
        "collection's earlier jobs."
    )
