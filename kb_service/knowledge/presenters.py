"""Knowledge-base content as it reads on the wire."""

from __future__ import annotations

from kb_service.knowledge.models import ChunkJob, Document
from kb_service.knowledge.service import CollectionSummary
from kb_service.vectorstores.base import Chunk
from schemas.knowledge import ChunkJobOut, ChunkOut, CollectionOut, DocumentOut, DocumentTimings


def document_out(doc: Document) -> DocumentOut:
    queue_s = (doc.started_at - doc.created_at).total_seconds() if doc.started_at else None
    processing_s = (
        (doc.finished_at - doc.started_at).total_seconds() if doc.finished_at and doc.started_at else None
    )
    return DocumentOut(
        id=doc.id,
        knowledge_base_id=doc.kb_id,
        collection=doc.collection.name,
        filename=doc.filename,
        kind=doc.kind,
        size_bytes=doc.size_bytes,
        sha256=doc.sha256,
        metadata=doc.doc_metadata,
        status=doc.status,
        error=doc.error,
        pages=doc.page_count,
        chunk_count=doc.chunk_count,
        chunks_embedded=doc.chunks_embedded,
        input_tokens=doc.input_tokens,
        replaces_document_id=doc.replaces_document_id,
        timings=DocumentTimings(
            created_at=doc.created_at,
            started_at=doc.started_at,
            parsed_at=doc.parsed_at,
            embedded_at=doc.embedded_at,
            finished_at=doc.finished_at,
            queue_seconds=queue_s,
            processing_seconds=processing_s,
        ),
    )


def collection_out(summary: CollectionSummary) -> CollectionOut:
    return CollectionOut(
        name=summary.collection.name,
        is_default=summary.collection.is_default,
        document_count=summary.document_count,
        chunk_count=summary.chunk_count,
        created_at=summary.collection.created_at,
    )


def job_out(job: ChunkJob) -> ChunkJobOut:
    return ChunkJobOut(
        id=job.id,
        collection=job.collection.name,
        mode=job.mode,
        status=job.status,
        error=job.error,
        chunk_count=job.chunk_count,
        input_tokens=job.input_tokens,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def chunk_out(chunk: Chunk) -> ChunkOut:
    return ChunkOut(
        chunk_id=chunk.chunk_id,
        collection=chunk.collection,
        text=chunk.text,
        metadata=dict(chunk.metadata),
        document_id=chunk.document_id,
        page=chunk.page,
        human_readable_id=chunk.human_readable_id,
        mx_object_id=chunk.mx_object_id,
        mx_entity=chunk.mx_entity,
    )
