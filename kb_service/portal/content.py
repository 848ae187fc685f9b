"""The knowledge base "Content" page: upload, the documents table with live status, the search playground.

A refused upload or search is shown next to its form (the `except KBError` blocks): a person at a
browser needs the page back with the message, where the API would return only the error body.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from kb_service.auth.access import Permission
from kb_service.auth.principals import Actor
from kb_service.clock import today
from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.errors import KBError, NotFound
from kb_service.knowledge.models import Document, WorkStatus
from kb_service.knowledge.service import KnowledgeService, Upload
from kb_service.portal.formatting import moment
from kb_service.portal.layout import resource_frame
from kb_service.portal.web import PREFIX, CsrfChecked, Page, PageDep, PortalActorDep
from kb_service.resources.lifecycle import deprovisioned_on, scheduled_deprovisioning
from kb_service.resources.models import Resource, ResourceType
from kb_service.services import Services
from schemas.knowledge import MetadataPatch
from schemas.retrieval import SearchRequest

router = APIRouter(route_class=UnitOfWorkRoute, prefix=PREFIX, include_in_schema=False)
DOCUMENTS_PER_PAGE = 200
ACTIVITY_PER_PAGE = 20


def knowledge_base(services: Services, actor: Actor, resource_id: str) -> Resource:
    """The KB if the actor may see it; anything else (another type, another company) is a 404."""
    resource = services.access.resource(actor, resource_id, Permission.VIEW)
    if resource.type != ResourceType.KNOWLEDGE_BASE:
        raise NotFound(f"Knowledge base {resource_id} not found.")
    return resource


def knowledge_of(services: Services, actor: Actor, resource_id: str) -> KnowledgeService:
    """The KB's content as this user changes it: logged under their email, as their other acts are."""
    return services.knowledge(knowledge_base(services, actor, resource_id), actor.email)


def activity_page(
    services: Services, actor: Actor, kb_id: str, page: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of the KB's activity log as the page shows it, through `ActivityService` (as `/v1`)."""
    offset = (page - 1) * ACTIVITY_PER_PAGE
    entries, total = services.activity.list(actor, kb_id, offset=offset, limit=ACTIVITY_PER_PAGE)
    rows = [{**asdict(row), "at_text": moment(row.at)} for row in services.activity.describe(entries)]
    return rows, total


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


@dataclass(frozen=True, slots=True)
class DocumentsView:
    """Which documents the table shows: a page, optionally one collection and one status.

    Read from the query string, which is the visitor's to edit: unknown values fall back to all.
    """

    page: int
    collection: str | None
    status: str | None

    @classmethod
    def of(cls, request: Request) -> DocumentsView:
        return cls.parse(request.query_params)

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> DocumentsView:
        status_value = params.get("status") or None
        return cls(
            page=_page_number(params.get("page")),
            collection=(params.get("collection") or "").strip() or None,
            status=status_value if status_value in set(WorkStatus) else None,
        )

    def query(self, page: int | None = None, **extra: int) -> str:
        """This view's query string, on another page if given (plus `extra`, e.g. the activity page)."""
        pairs: list[tuple[str, str | int]] = []
        if (page or self.page) > 1:
            pairs.append(("page", page or self.page))
        if self.collection:
            pairs.append(("collection", self.collection))
        if self.status:
            pairs.append(("status", self.status))
        pairs.extend((k, v) for k, v in extra.items() if v > 1)
        return "?" + urlencode(pairs) if pairs else ""

    def documents(self, knowledge: KnowledgeService) -> tuple[list[Document], int]:
        offset = (self.page - 1) * DOCUMENTS_PER_PAGE
        return knowledge.list_documents(
            collection=self.collection, status=self.status, offset=offset, limit=DOCUMENTS_PER_PAGE
        )


def _page_number(raw: str | None) -> int:
    return int(raw) if raw is not None and raw.isdigit() and 0 < int(raw) <= 1_000_000 else 1


def _pager(page: int, per_page: int, total: int, shown: int) -> dict[str, Any]:
    pages = max(1, math.ceil(total / per_page))
    first = (page - 1) * per_page + 1 if shown else 0
    return {
        "page": page,
        "pages": pages,
        "first": first,
        "last": first + shown - 1 if shown else 0,
        "total": total,
        "previous": page - 1 if page > 1 else None,
        "next": page + 1 if page < pages else None,
    }


def _content_page(
    page: Page, services: Services, resource_id: str, extra: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    request, actor = page.request, page.actor
    kb = knowledge_base(services, actor, resource_id)
    frame = resource_frame(services, actor, resource_id)
    view = DocumentsView.of(request)
    # Once deprovisioning took effect the KB has no index: nothing is listed, the forms are off.
    gone_on = deprovisioned_on(kb, today(services.clock))
    documents: list[Document] = []
    total, collections = 0, []
    if gone_on is None:
        knowledge = services.knowledge(kb, actor.email)
        documents, total = view.documents(knowledge)
        collections = knowledge.collections()
    activity_number = _page_number(request.query_params.get("activity"))
    activity_rows_, activity_total = activity_page(services, actor, kb.id, activity_number)
    base = f"{PREFIX}/resources/{kb.id}"
    pager = _pager(view.page, DOCUMENTS_PER_PAGE, total, len(documents))
    activity_pager = _pager(activity_number, ACTIVITY_PER_PAGE, activity_total, len(activity_rows_))
    context: dict[str, Any] = {
        **frame.context("content"),
        "kb": kb,
        "documents": [document_row(d) for d in documents],
        "documents_total": total,
        "documents_pager": pager,
        "documents_view": view,
        "documents_url": f"{base}/documents.json{view.query()}",
        "documents_page_url": {
            name: f"{base}/content{view.query(page)}#documents-title"
            for name, page in (("previous", pager["previous"]), ("next", pager["next"]))
            if page
        },
        "statuses": [s.value for s in WorkStatus],
        "activity": activity_rows_,
        "activity_pager": activity_pager,
        "activity_page_url": {
            name: f"{base}/content{view.query(activity=page)}#activity-title"
            for name, page in (("newer", activity_pager["previous"]), ("older", activity_pager["next"]))
            if page
        },
        "collections": collections,
        "deprovisioned_on": gone_on,
        "deprovision_scheduled_on": scheduled_deprovisioning(kb, today(services.clock)),
        "search": None,
        "hits": None,
        "upload_error": None,
        "search_error": None,
        "metadata_error": None,
        "edited": request.query_params.get("edited"),
        "uploaded": _count(request.query_params.get("uploaded")),
        "deleted": _notice(request.query_params.get("deleted")),
        **extra,
    }
    return page.render("content.html", context, status_code)


@router.get("/resources/{resource_id}/content")
def content_page(page: PageDep, resource_id: str, services: ServicesDep) -> HTMLResponse:
    return _content_page(page, services, resource_id, {})


@router.get("/resources/{resource_id}/documents.json")
def documents_status(
    request: Request, resource_id: str, actor: PortalActorDep, services: ServicesDep
) -> JSONResponse:
    """The rows of the documents table's page (same query string), polled while any is in progress."""
    knowledge = knowledge_of(services, actor, resource_id)
    documents, total = DocumentsView.of(request).documents(knowledge)
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
    page: PageDep,
    resource_id: str,
    services: ServicesDep,
    files: Annotated[list[UploadFile], File()],
    collection: Annotated[str, Form()] = "",
    meta_key: Annotated[list[str] | None, Form()] = None,
    meta_value: Annotated[list[str] | None, Form()] = None,
    pdf_password: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    metadata = metadata_rows(meta_key or [], meta_value or [])
    try:
        knowledge = knowledge_of(services, page.actor, resource_id)
        for file in files:
            knowledge.upload(
                Upload(file.filename or "", file.content_type, file.file),
                collection=collection.strip() or None,
                metadata=metadata,
                # Kept on the document only until it is parsed; never logged nor shown again.
                password=pdf_password or None,
            )
    except KBError as exc:
        extra = {"upload_error": exc.message}
        return _content_page(page, services, resource_id, extra, exc.status_code)
    target = f"{PREFIX}/resources/{resource_id}/content?uploaded={len(files)}"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


@router.post("/resources/{resource_id}/content/search", dependencies=[CsrfChecked])
def search_playground(
    page: PageDep,
    resource_id: str,
    services: ServicesDep,
    query: Annotated[str, Form()] = "",
    collections: Annotated[list[str] | None, Form()] = None,
    meta_key: Annotated[list[str] | None, Form()] = None,
    meta_value: Annotated[list[str] | None, Form()] = None,
    max_results: Annotated[int, Form(ge=1, le=100)] = 5,
    min_similarity: Annotated[float | None, Form(ge=-1.0, le=1.0)] = None,
) -> HTMLResponse:
    metadata = metadata_rows(meta_key or [], meta_value or [])
    form = {
        "query": query,
        "collections": collections or [],
        "metadata": metadata,
        "max_results": max_results,
        "min_similarity": min_similarity,
    }
    extra: dict[str, Any] = {"search": form}
    kb = knowledge_base(services, page.actor, resource_id)
    if not query.strip():
        extra["search_error"] = "Enter a question to search for."
        return _content_page(page, services, resource_id, extra, status.HTTP_422_UNPROCESSABLE_CONTENT)
    try:
        request_model = SearchRequest(
            query=query,
            collections=collections or None,
            metadata=metadata or None,
            max_results=max_results,
            min_similarity=min_similarity,
        )
        extra["hits"] = services.retrieval(kb).search(request_model).hits
    except KBError as exc:
        extra["search_error"] = exc.message
    return _content_page(page, services, resource_id, extra)


@router.post("/resources/{resource_id}/content/documents/{document_id}/delete", dependencies=[CsrfChecked])
def delete_document(
    resource_id: str,
    document_id: str,
    actor: PortalActorDep,
    services: ServicesDep,
    view: Annotated[str, Form(max_length=1000)] = "",
) -> RedirectResponse:
    knowledge_of(services, actor, resource_id).delete_document(document_id)
    # Back to the page of the table the row was on; rebuilt from known fields, never echoed as sent.
    shown = DocumentsView.parse(dict(parse_qsl(view.removeprefix("?")))).query()
    target = f"{PREFIX}/resources/{resource_id}/content{shown}{'&' if shown else '?'}deleted=document"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


@router.post("/resources/{resource_id}/content/documents/{document_id}/metadata", dependencies=[CsrfChecked])
def edit_document_metadata(
    page: PageDep,
    resource_id: str,
    document_id: str,
    services: ServicesDep,
    meta_key: Annotated[list[str] | None, Form()] = None,
    meta_value: Annotated[list[str] | None, Form()] = None,
    view: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """The row's metadata replaced by the form's rows (a cleared key drops it), through the same
    `update_document_metadata` as `PATCH …/documents/{id}`: a metadata job, nothing re-embedded."""
    metadata = metadata_rows(meta_key or [], meta_value or [])
    try:
        knowledge = knowledge_of(services, page.actor, resource_id)
        knowledge.update_document_metadata(document_id, MetadataPatch(metadata=metadata))
    except KBError as exc:
        if isinstance(exc, NotFound):
            raise
        # The rows as sent come back in the row's form, next to the message.
        error = {"document_id": document_id, "message": exc.message, "rows": list(metadata.items())}
        extra = {"metadata_error": error}
        return _content_page(page, services, resource_id, extra, exc.status_code)
    shown = DocumentsView.parse(dict(parse_qsl(view.removeprefix("?")))).query()
    target = f"{PREFIX}/resources/{resource_id}/content{shown}{'&' if shown else '?'}edited={document_id}"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


@router.post("/resources/{resource_id}/content/collections/delete", dependencies=[CsrfChecked])
def delete_collection(
    resource_id: str, actor: PortalActorDep, services: ServicesDep, name: Annotated[str, Form()]
) -> RedirectResponse:
    knowledge_of(services, actor, resource_id).delete_collection(name)
    target = f"{PREFIX}/resources/{resource_id}/content?deleted=collection"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
