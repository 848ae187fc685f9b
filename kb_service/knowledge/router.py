"""Knowledge-base content routes: documents, collections, pushed chunks and chunk jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status

from kb_service.deps import KnowledgeServiceDep
from kb_service.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from kb_service.knowledge.models import ChunkJob, Document
from kb_service.knowledge.service import CollectionSummary, Upload
from kb_service.openapi import errors
from kb_service.vectorstores.base import Chunk
from schemas._base import Page
from schemas.knowledge import (
    ChunkJobCreate,
    ChunkJobOut,
    ChunkOut,
    ChunksDeleted,
    CollectionOut,
    DocumentAccepted,
    DocumentOut,
    DocumentTimings,
    WorkStatusName,
)

router = APIRouter(prefix="/v1/knowledge-bases/{kb_id}", tags=["knowledge bases"])

Offset = Annotated[int, Query(ge=0)]
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.post(
    "/documents",
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(InvalidInput, PayloadTooLarge, UnsupportedMediaType, NotFound)
    | {200: {"model": DocumentAccepted, "description": "Identical file already present; nothing queued."}},
)
def upload_document(
    service: KnowledgeServiceDep,
    response: Response,
    file: Annotated[UploadFile, File(description="A TXT or PDF file.")],
    collection: Annotated[str | None, Form(description="Target collection; created if new.")] = None,
    metadata: Annotated[
        str | None, Form(description='JSON object of strings, e.g. {"Category": "Ticket"}')
    ] = None,
    password: Annotated[str | None, Form(description="Password of an encrypted PDF.")] = None,
) -> DocumentAccepted:
    """Upload a file; it is parsed, chunked, embedded and indexed in the background."""
    result = service.upload(
        Upload(file.filename or "", file.content_type, file.file),
        collection=collection,
        metadata_json=metadata,
        password=password,
    )
    if result.unchanged:
        response.status_code = status.HTTP_200_OK
    doc = result.document
    return DocumentAccepted(
        id=doc.id, status=doc.status, collection=doc.collection.name, unchanged=result.unchanged
    )


@router.get("/documents", responses=errors(InvalidInput, NotFound))
def list_documents(
    service: KnowledgeServiceDep,
    collection: str | None = None,
    status: WorkStatusName | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[DocumentOut]:
    items, total = service.list_documents(collection=collection, status=status, offset=offset, limit=limit)
    return Page(items=[document_out(d) for d in items], total=total, offset=offset, limit=limit)


@router.get("/documents/{document_id}", responses=errors(NotFound))
def get_document(service: KnowledgeServiceDep, document_id: str) -> DocumentOut:
    return document_out(service.document(document_id))


@router.delete("/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(NotFound))
def delete_document(service: KnowledgeServiceDep, document_id: str) -> None:
    """Delete the document and every one of its chunks."""
    service.delete_document(document_id)


@router.get("/collections", responses=errors(NotFound))
def list_collections(service: KnowledgeServiceDep) -> list[CollectionOut]:
    return [collection_out(summary) for summary in service.collections()]


@router.delete("/collections/{name}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(NotFound))
def delete_collection(service: KnowledgeServiceDep, name: str) -> None:
    """Delete the collection with all its documents and chunks."""
    service.delete_collection(name)


@router.post(
    "/collections/{name}/chunks",
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(InvalidInput, PayloadTooLarge, NotFound),
)
def push_chunks(service: KnowledgeServiceDep, name: str, body: ChunkJobCreate) -> ChunkJobOut:
    """Embed and insert / repopulate / replace chunks; returns the job that does it."""
    return job_out(service.push_chunks(name, body))


@router.get("/jobs/{job_id}", responses=errors(NotFound))
def get_job(service: KnowledgeServiceDep, job_id: str) -> ChunkJobOut:
    return job_out(service.job(job_id))


@router.delete("/collections/{name}/chunks", responses=errors(InvalidInput, NotFound))
def delete_object_chunks(
    service: KnowledgeServiceDep,
    name: str,
    mx_object_id: Annotated[list[str], Query(description="One or more app object ids.")],
    mx_entity: str | None = None,
) -> ChunksDeleted:
    """Delete the chunks of one or more app objects."""
    return ChunksDeleted(deleted=service.delete_object_chunks(name, mx_object_id, mx_entity))


@router.get("/collections/{name}/chunks", responses=errors(InvalidInput, NotFound))
def list_chunks(
    service: KnowledgeServiceDep,
    name: str,
    offset: Offset = 0,
    limit: Limit = 50,
    metadata: Annotated[str | None, Query(description="JSON object: exact-match metadata.")] = None,
    filter: Annotated[str | None, Query(description="JSON filter, as in search.")] = None,
    mx_object_id: Annotated[list[str] | None, Query()] = None,
    mx_entity: str | None = None,
) -> Page[ChunkOut]:
    page = service.list_chunks(
        name,
        offset=offset,
        limit=limit,
        metadata_json=metadata,
        filter_json=filter,
        object_ids=mx_object_id or [],
        entity=mx_entity,
    )
    return Page(items=[chunk_out(c) for c in page.items], total=page.total, offset=offset, limit=limit)


# --- presentation -------------------------------------------------------------------------------


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
