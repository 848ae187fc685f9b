"""Knowledge-base content routes: documents, collections, pushed chunks and chunk jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile, status

from kb_service.auth.deps import KnowledgeBaseDep, PrincipalDep
from kb_service.deps import ServicesDep, SingleFormPartsDep, UnitOfWorkRoute
from kb_service.errors import (
    Conflict,
    Gone,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    documented,
)
from kb_service.knowledge.presenters import chunk_out, collection_out, document_out, job_out
from kb_service.knowledge.service import KnowledgeService, Upload
from kb_service.knowledge.uploads import parse_filter_json, parse_metadata_json
from schemas._base import Limit, Offset, Page
from schemas.knowledge import (
    ChunkJobCreate,
    ChunkJobOut,
    ChunkOut,
    CollectionOut,
    DocumentAccepted,
    DocumentMetadataUpdated,
    DocumentOut,
    MetadataPatch,
    WorkStatusName,
)

router = APIRouter(
    route_class=UnitOfWorkRoute, prefix="/v1/knowledge-bases/{kb_id}", tags=["knowledge bases"]
)


def get_knowledge(kb: KnowledgeBaseDep, principal: PrincipalDep, services: ServicesDep) -> KnowledgeService:
    """The KB's content service, changes logged under the calling key."""
    return services.knowledge(kb, principal.activity_actor)


KnowledgeServiceDep = Annotated[KnowledgeService, Depends(get_knowledge)]


@router.post(
    "/documents",
    status_code=status.HTTP_202_ACCEPTED,
    responses=documented(Gone, InvalidInput, PayloadTooLarge, UnsupportedMediaType, NotFound)
    | {200: {"model": DocumentAccepted, "description": "Identical file already present; nothing queued."}},
)
def upload_document(
    service: KnowledgeServiceDep,
    _single_parts: SingleFormPartsDep,
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
        metadata=parse_metadata_json(metadata),
        password=password,
    )
    if result.unchanged:
        response.status_code = status.HTTP_200_OK
    doc = result.document
    return DocumentAccepted(
        id=doc.id, status=doc.status, collection=doc.collection.name, unchanged=result.unchanged
    )


@router.get("/documents", responses=documented(Gone, InvalidInput, NotFound))
def list_documents(
    service: KnowledgeServiceDep,
    collection: str | None = None,
    status: WorkStatusName | None = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[DocumentOut]:
    items, total = service.list_documents(collection=collection, status=status, offset=offset, limit=limit)
    return Page(items=[document_out(d) for d in items], total=total, offset=offset, limit=limit)


@router.get("/documents/{document_id}", responses=documented(Gone, NotFound))
def get_document(service: KnowledgeServiceDep, document_id: str) -> DocumentOut:
    return document_out(service.document(document_id))


@router.patch(
    "/documents/{document_id}",
    status_code=status.HTTP_202_ACCEPTED,
    responses=documented(Gone, InvalidInput, NotFound),
)
def update_document_metadata(
    service: KnowledgeServiceDep, document_id: str, body: MetadataPatch
) -> DocumentMetadataUpdated:
    """Edit the document's metadata without re-embedding: replace it (`metadata`) or `set` / `remove`
    keys. The document shows it at once; its chunks follow when the returned job is indexed."""
    edited = service.update_document_metadata(document_id, body)
    return DocumentMetadataUpdated(document=document_out(edited.document), job=job_out(edited.job))


@router.delete(
    "/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT, responses=documented(Gone, NotFound)
)
def delete_document(service: KnowledgeServiceDep, document_id: str) -> None:
    """Delete the document and every one of its chunks."""
    service.delete_document(document_id)


@router.get("/collections", responses=documented(Gone, NotFound))
def list_collections(service: KnowledgeServiceDep) -> list[CollectionOut]:
    return [collection_out(summary) for summary in service.collections()]


@router.delete(
    "/collections/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=documented(Gone, NotFound, Conflict),
)
def delete_collection(service: KnowledgeServiceDep, name: str) -> None:
    """Delete the collection with all its documents and chunks."""
    service.delete_collection(name)


@router.post(
    "/collections/{name}/chunks",
    status_code=status.HTTP_202_ACCEPTED,
    responses=documented(Gone, InvalidInput, PayloadTooLarge, NotFound),
)
def push_chunks(service: KnowledgeServiceDep, name: str, body: ChunkJobCreate) -> ChunkJobOut:
    """Embed and insert / repopulate / replace chunks; returns the job that does it."""
    return job_out(service.push_chunks(name, body))


@router.get("/jobs/{job_id}", responses=documented(Gone, NotFound))
def get_job(service: KnowledgeServiceDep, job_id: str) -> ChunkJobOut:
    return job_out(service.job(job_id))


@router.delete(
    "/collections/{name}/chunks",
    status_code=status.HTTP_202_ACCEPTED,
    responses=documented(Gone, InvalidInput, NotFound),
)
def delete_object_chunks(
    service: KnowledgeServiceDep,
    name: str,
    mx_object_id: Annotated[list[str], Query(description="One or more app object ids.")],
    mx_entity: str | None = None,
) -> ChunkJobOut:
    """Delete the chunks of one or more app objects, as a job applied after the collection's earlier
    jobs; its `chunk_count` is how many chunks it removed, once indexed."""
    return job_out(service.delete_object_chunks(name, mx_object_id, mx_entity))


@router.patch(
    "/collections/{name}/chunks",
    status_code=status.HTTP_202_ACCEPTED,
    responses=documented(Gone, InvalidInput, NotFound),
)
def update_object_metadata(
    service: KnowledgeServiceDep,
    name: str,
    body: MetadataPatch,
    mx_object_id: Annotated[list[str], Query(description="One or more app object ids.")],
    mx_entity: str | None = None,
) -> ChunkJobOut:
    """Edit the metadata of app objects' chunks without re-embedding, as a job applied after the
    collection's earlier jobs."""
    return job_out(service.update_object_metadata(name, mx_object_id, mx_entity, body))


@router.get("/collections/{name}/chunks", responses=documented(Gone, InvalidInput, NotFound))
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
        metadata=parse_metadata_json(metadata),
        where=parse_filter_json(filter),
        object_ids=mx_object_id or [],
        entity=mx_entity,
    )
    return Page(items=[chunk_out(c) for c in page.items], total=page.total, offset=offset, limit=limit)
