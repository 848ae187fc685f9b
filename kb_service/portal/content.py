"""The knowledge base "Content" page: upload, the documents table with live status, the search playground.

A refused upload or search is shown next to its form (the `except KBError` blocks): a person at a
browser needs the page back with the message, where the API would return only the error body.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from kb_service.deps import ClockDep, ContainerDep, SessionDep
from kb_service.errors import KBError
from kb_service.knowledge.models import Document
from kb_service.knowledge.service import Upload
from kb_service.portal.service import PortalContent
from kb_service.portal.sessions import PortalSession, SessionCodec
from kb_service.portal.web import (
    PREFIX,
    CodecDep,
    CsrfChecked,
    PortalActorDep,
    PortalSessionDep,
    render,
)
from kb_service.users.service import Actor
from schemas.retrieval import SearchRequest

router = APIRouter(prefix=PREFIX, include_in_schema=False)
DOCUMENTS_SHOWN = 200


def get_portal_content(session: SessionDep, container: ContainerDep, clock: ClockDep) -> PortalContent:
    return PortalContent(session, container, clock)


PortalContentDep = Annotated[PortalContent, Depends(get_portal_content)]


def document_row(document: Document) -> dict[str, Any]:
    return {
        "id": document.id,
        "filename": document.filename,
        "collection": document.collection.name,
        "status": document.status,
        "error": document.error,
        "pages": document.page_count,
        "chunks": document.chunks_embedded,
        "size": document.size_bytes,
        "metadata": document.doc_metadata,
    }


def _content_page(
    request: Request,
    actor: Actor,
    content: PortalContent,
    resource_id: str,
    codec: SessionCodec,
    portal_session: PortalSession,
    extra: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    kb = content.knowledge_base(actor, resource_id)
    frame = content.frame(actor, resource_id)
    knowledge = content.knowledge(kb)
    documents, total = knowledge.list_documents(collection=None, status=None, offset=0, limit=DOCUMENTS_SHOWN)
    context: dict[str, Any] = {
        **frame.context("content"),
        "actor": actor,
        "kb": kb,
        "documents": [document_row(d) for d in documents],
        "documents_total": total,
        "collections": knowledge.collections(),
        "search": None,
        "hits": None,
        "upload_error": None,
        "search_error": None,
        "uploaded": _count(request.query_params.get("uploaded")),
        "deleted": _notice(request.query_params.get("deleted")),
        **extra,
    }
    return render(
        request,
        "content.html",
        context,
        codec=codec,
        portal_session=portal_session,
        status_code=status_code,
    )


@router.get("/resources/{resource_id}/content")
def content_page(
    request: Request,
    resource_id: str,
    actor: PortalActorDep,
    content: PortalContentDep,
    codec: CodecDep,
    portal_session: PortalSessionDep,
) -> HTMLResponse:
    assert portal_session is not None
    return _content_page(request, actor, content, resource_id, codec, portal_session, {})


@router.get("/resources/{resource_id}/documents.json")
def documents_status(resource_id: str, actor: PortalActorDep, content: PortalContentDep) -> JSONResponse:
    """The documents table's rows, polled by the page while any document is still in progress."""
    knowledge = content.knowledge(content.knowledge_base(actor, resource_id))
    documents, total = knowledge.list_documents(collection=None, status=None, offset=0, limit=DOCUMENTS_SHOWN)
    return JSONResponse({"items": [document_row(d) for d in documents], "total": total})


def _notice(deleted: str | None) -> str | None:
    # Only the two known values: the query string is the visitor's to edit.
    return deleted if deleted in {"document", "collection"} else None


def _count(raw: str | None) -> int | None:
    return int(raw) if raw is not None and raw.isdigit() and 0 < int(raw) <= 10_000 else None


def metadata_rows(keys: list[str], values: list[str]) -> dict[str, str]:
    """The form's key / value rows as one mapping; rows with an empty key are ignored."""
    return {k.strip(): v.strip() for k, v in zip(keys, values, strict=False) if k.strip()}


@router.post("/resources/{resource_id}/content/upload", dependencies=[CsrfChecked])
def upload_documents(
    request: Request,
    resource_id: str,
    actor: PortalActorDep,
    content: PortalContentDep,
    codec: CodecDep,
    portal_session: PortalSessionDep,
    files: Annotated[list[UploadFile], File()],
    collection: Annotated[str, Form()] = "",
    meta_key: Annotated[list[str] | None, Form()] = None,
    meta_value: Annotated[list[str] | None, Form()] = None,
) -> Response:
    assert portal_session is not None
    knowledge = content.knowledge(content.knowledge_base(actor, resource_id))
    metadata = json.dumps(metadata_rows(meta_key or [], meta_value or []))
    try:
        for file in files:
            knowledge.upload(
                Upload(file.filename or "", file.content_type, file.file),
                collection=collection.strip() or None,
                metadata_json=metadata,
                password=None,
            )
    except KBError as exc:
        extra = {"upload_error": exc.message}
        return _content_page(
            request, actor, content, resource_id, codec, portal_session, extra, exc.status_code
        )
    target = f"{PREFIX}/resources/{resource_id}/content?uploaded={len(files)}"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


@router.post("/resources/{resource_id}/content/search", dependencies=[CsrfChecked])
def search_playground(
    request: Request,
    resource_id: str,
    actor: PortalActorDep,
    content: PortalContentDep,
    codec: CodecDep,
    portal_session: PortalSessionDep,
    query: Annotated[str, Form()],
    collections: Annotated[list[str] | None, Form()] = None,
    meta_key: Annotated[list[str] | None, Form()] = None,
    meta_value: Annotated[list[str] | None, Form()] = None,
    max_results: Annotated[int, Form(ge=1, le=100)] = 5,
    min_similarity: Annotated[float, Form(ge=0.0, le=1.0)] = 0.0,
) -> HTMLResponse:
    assert portal_session is not None
    metadata = metadata_rows(meta_key or [], meta_value or [])
    form = {
        "query": query,
        "collections": collections or [],
        "metadata": metadata,
        "max_results": max_results,
        "min_similarity": min_similarity,
    }
    extra: dict[str, Any] = {"search": form}
    kb = content.knowledge_base(actor, resource_id)
    try:
        request_model = SearchRequest(
            query=query,
            collections=collections or None,
            metadata=metadata or None,
            max_results=max_results,
            min_similarity=min_similarity,
        )
        extra["hits"] = content.retrieval(kb).search(request_model).hits
    except KBError as exc:
        extra["search_error"] = exc.message
    return _content_page(request, actor, content, resource_id, codec, portal_session, extra)


@router.post("/resources/{resource_id}/content/documents/{document_id}/delete", dependencies=[CsrfChecked])
def delete_document(
    resource_id: str, document_id: str, actor: PortalActorDep, content: PortalContentDep
) -> RedirectResponse:
    content.knowledge(content.knowledge_base(actor, resource_id)).delete_document(document_id)
    target = f"{PREFIX}/resources/{resource_id}/content?deleted=document"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


@router.post("/resources/{resource_id}/content/collections/delete", dependencies=[CsrfChecked])
def delete_collection(
    resource_id: str, actor: PortalActorDep, content: PortalContentDep, name: Annotated[str, Form()]
) -> RedirectResponse:
    content.knowledge(content.knowledge_base(actor, resource_id)).delete_collection(name)
    target = f"{PREFIX}/resources/{resource_id}/content?deleted=collection"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
