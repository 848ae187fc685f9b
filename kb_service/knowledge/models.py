"""Knowledge-base content: collections, uploaded documents and chunk jobs pushed by apps.

The chunks themselves (text, metadata, vectors) live in the vector store; these rows track what was
accepted and how far its processing got. Work is claimed with a lease (owner + expiry) so that no two
workers process the same document at once and a crashed worker's work is picked up again.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kb_service.db import Base, UTCDateTime, new_id, utcnow

DEFAULT_COLLECTION = "default"


class WorkStatus(StrEnum):
    QUEUED = "queued"
    PARSING = "parsing"
    EMBEDDING = "embedding"
    INDEXING = "indexing"
    INDEXED = "indexed"
    FAILED = "failed"
    # Waiting for embedding capacity (the linked embeddings resource used its GU for the bundle
    # month); resumes by itself after the refill or a capacity increase.
    PAUSED = "paused"

    @classmethod
    def in_progress(cls) -> tuple[WorkStatus, ...]:
        return (cls.PARSING, cls.EMBEDDING, cls.INDEXING)

    @classmethod
    def unfinished(cls) -> tuple[WorkStatus, ...]:
        return (cls.QUEUED, cls.PAUSED, *cls.in_progress())


class Collection(Base):
    __tablename__ = "collections"
    __table_args__ = (UniqueConstraint("kb_id", "name", name="uq_collections_kb_id_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kb_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class _Leased:
    """Columns shared by documents and chunk jobs: status, error, lease and timings."""

    status: Mapped[str] = mapped_column(String(20), default=WorkStatus.QUEUED, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    chunk_count: Mapped[int | None] = mapped_column(Integer)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    embedded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Document(_Leased, Base):
    __tablename__ = "documents"
    __table_args__ = (
        Index("ix_documents_collection_filename", "collection_id", "filename"),
        Index("ix_documents_kb_status", "kb_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kb_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(10))
    content_type: Mapped[str | None] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    doc_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    # The password of an encrypted PDF is kept only until the document is indexed or failed (a
    # paused document is parsed again when it resumes), then cleared.
    password: Mapped[str | None] = mapped_column(String(500))
    page_count: Mapped[int | None] = mapped_column(Integer)
    chunks_embedded: Mapped[int] = mapped_column(Integer, default=0)
    parsed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The indexed document of the same name this upload replaces once it is indexed.
    replaces_document_id: Mapped[str | None] = mapped_column(String(32))

    collection: Mapped[Collection] = relationship(lazy="joined")


class DocumentBlob(Base):
    """The uploaded bytes, in the state database so that workers on other machines can read them
    without a shared volume. Removed once the document reaches a final status."""

    __tablename__ = "document_blobs"

    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ChunkJob(_Leased, Base):
    __tablename__ = "chunk_jobs"
    __table_args__ = (Index("ix_chunk_jobs_collection_created", "collection_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kb_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), index=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(20))
    # The pushed chunks (a list), or for a `metadata` job the edit and its target (an object: see
    # ingestion.records.MetadataEdit); kept until the job is indexed (then dropped to save space).
    payload: Mapped[list[dict[str, Any]] | dict[str, Any] | None] = mapped_column(JSON)

    collection: Mapped[Collection] = relationship(lazy="joined")


class EmbeddedBatch(Base):
    """One embedding batch of a document or chunk job not yet indexed: its vectors, kept so that
    work paused (or taken over) part-way resumes from the batches already embedded — nothing is
    embedded or metered twice. Written in the unit of work that meters the batch; removed when the
    work reaches a final status."""

    __tablename__ = "embedded_batches"

    # A document's or a chunk job's id (the chunks' source id).
    source_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Position of the batch's first chunk.
    start: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    # float32, row-major: count × dimension.
    vectors: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
