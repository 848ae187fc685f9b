"""The knowledge base "Content" page: upload, the documents table with live status, the search playground.

A refused upload or search is shown next to its form (the `except KBError` blocks): a person at a
browser needs the page back with the message, where the API would return only the error body.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from kb_service.activity.models import ActivityEntry
from kb_service.activity.service import ActivityService
from kb_service.clock import Clock
from kb_service.deps import ClockDep, ContainerDep, SessionDep
from kb_service.errors import KBError
from kb_service.keys.models import ApiKey
from kb_service.knowledge.models import ChunkJob, Collection, Document, WorkStatus
from kb_service.knowledge.service import KnowledgeService, Upload
from kb_service.portal.formatting import moment
from kb_service.portal.service import PortalContent
from kb_service.portal.web import (
    PREFIX,
    CsrfChecked,
    Page,
    PageDep,
    PortalActorDep,
)
from kb_service.users.models import User
from kb_service.users.service import Actor
from schemas.retrieval import SearchRequest

router = APIRouter(prefix=PREFIX, include_in_schema=False)
DOCUMENTS_PER_PAGE = 200
ACTIVITY_PER_PAGE = 20


def get_portal_content(session: SessionDep, container: ContainerDep, clock: ClockDep) -> PortalContent:
    return PortalContent(session, container, clock)


PortalContentDep = Annotated[PortalContent, Depends(get_portal_content)]


class ContentActivity:
    """The KB's activity log as the page shows it, through `ActivityService` (the `/v1` route's)."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self._session = session
        self._service = ActivityService(session, clock)

    def page(self, actor: Actor, kb_id: str, page: int) -> tuple[list[dict[str, Any]], int]:
        offset = (page - 1) * ACTIVITY_PER_PAGE
        entries, total = self._service.list(actor, kb_id, offset=offset, limit=ACTIVITY_PER_PAGE)
        return activity_rows(self._session, entries), total


def get_content_activity(session: SessionDep, clock: ClockDep) -> ContentActivity:
    return ContentActivity(session, clock)


ContentActivityDep = Annotated[ContentActivity, Depends(get_content_activity)]


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


ACTION_LABELS = {
    "document.uploaded": "Uploaded document",
    "document.deleted": "Deleted document",
    "collection.created": "Created collection",
    "collection.deleted": "Deleted collection",
    "chunks.pushed": "Pushed chunks",
    "member.added": "Added member",
    "member.removed": "Removed member",
    "invitation.sent": "Sent invitation",
    "invitation.withdrawn": "Withdrew invitation",
    "invitation.accepted": "Invitation accepted",
    "invitation.declined": "Invitation declined",
    "key.created": "Created API key",
    "key.revoked": "Revoked API key",
}


def activity_rows(session: Session, entries: list[ActivityEntry]) -> list[dict[str, Any]]:
    """The log's rows for people: who by email or API key, what, and names (never content).

    The names behind ids are looked up in one query per kind for the whole page, not per row.
    """
    user_ids = _ids_of(e.actor.removeprefix("user:") for e in entries if e.actor.startswith("user:"))
    emails = _names(session, select(User.id, User.email).where(User.id.in_(user_ids))) if user_ids else {}
    key_ids = _ids_of(e.actor.removeprefix("key:") for e in entries if e.actor.startswith("key:"))
    keys = (
        _names(session, select(ApiKey.id, ApiKey.description).where(ApiKey.id.in_(key_ids)))
        if key_ids
        else {}
    )
    document_ids = _ids_of(str(e.detail.get("document_id")) for e in entries if "document_id" in e.detail)
    job_ids = _ids_of(str(e.detail.get("job_id")) for e in entries if "job_id" in e.detail)
    collections: dict[str, str] = {}
    for model, ids in ((Document, document_ids), (ChunkJob, job_ids)):
        if ids:
            query = select(model.id, Collection.name).join(Collection).where(model.id.in_(ids))
            collections.update(_names(session, query))
    rows = []
    for entry in entries:
        who, who_note = _who(entry.actor, emails, keys)
        detail = entry.detail
        ref = str(detail.get("document_id") or detail.get("job_id") or "")
        rows.append(
            {
                "at": entry.occurred_at,
                "at_text": moment(entry.occurred_at),
                "who": who,
                "who_note": who_note,
                "action": ACTION_LABELS.get(entry.action, entry.action),
                "subject": _subject(entry.action, detail),
                "collection": detail.get("collection") or collections.get(ref),
            }
        )
    return rows


def _names(session: Session, query: Select[str, str]) -> dict[str, str]:
    return {str(key): str(name) for key, name in session.execute(query)}


def _ids_of(values: Iterable[str]) -> list[str]:
    return sorted(set(values))


def _who(actor: str, emails: dict[str, str], keys: dict[str, str]) -> tuple[str, str]:
    # "user:<id>": portal uploads logged before they were logged by email (as users' other acts are).
    if actor.startswith("user:"):
        user_id = actor.removeprefix("user:")
        return emails.get(user_id, "A removed user"), ""
    if actor.startswith("key:"):
        key_id = actor.removeprefix("key:")
        return f"API key kb_{key_id}_…", keys.get(key_id, "")
    return actor, ""


def _subject(action: str, detail: dict[str, Any]) -> str:
    if "filename" in detail:
        return str(detail["filename"])
    if action == "chunks.pushed":
        return f"{detail.get('mode', '')} job {detail.get('job_id', '')}".strip()
    if "email" in detail:
        return str(detail["email"])
    if "key_id" in detail:
        return f"kb_{detail['key_id']}_…"
    return ""


def _content_page(
    page: Page,
    content: PortalContent,
    activity: ContentActivity,
    resource_id: str,
    extra: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    request, actor = page.request, page.actor
    kb = content.knowledge_base(actor, resource_id)
    frame = content.frame(actor, resource_id)
    knowledge = content.knowledge(kb)
    view = DocumentsView.of(request)
    documents, total = view.documents(knowledge)
    activity_page = _page_number(request.query_params.get("activity"))
    activity_rows_, activity_total = activity.page(actor, kb.id, activity_page)
    base = f"{PREFIX}/resources/{kb.id}"
    pager = _pager(view.page, DOCUMENTS_PER_PAGE, total, len(documents))
    activity_pager = _pager(activity_page, ACTIVITY_PER_PAGE, activity_total, len(activity_rows_))
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
        "collections": knowledge.collections(),
        "search": None,
        "hits": None,
        "upload_error": None,
        "search_error": None,
        "uploaded": _count(request.query_params.get("uploaded")),
        "deleted": _notice(request.query_params.get("deleted")),
        **extra,
    }
    return page.render("content.html", context, status_code)


@router.get("/resources/{resource_id}/content")
def content_page(
    page: PageDep, resource_id: str, content: PortalContentDep, activity: ContentActivityDep
) -> HTMLResponse:
    return _content_page(page, content, activity, resource_id, {})


@router.get("/resources/{resource_id}/documents.json")
def documents_status(
    request: Request, resource_id: str, actor: PortalActorDep, content: PortalContentDep
) -> JSONResponse:
    """The rows of the documents table's page (same query string), polled while any is in progress."""
    knowledge = content.knowledge(content.knowledge_base(actor, resource_id))
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
    content: PortalContentDep,
    activity: ContentActivityDep,
    files: Annotated[list[UploadFile], File()],
    collection: Annotated[str, Form()] = "",
    meta_key: Annotated[list[str] | None, Form()] = None,
    meta_value: Annotated[list[str] | None, Form()] = None,
    pdf_password: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    knowledge = content.knowledge(content.knowledge_base(page.actor, resource_id))
    metadata = json.dumps(metadata_rows(meta_key or [], meta_value or []))
    try:
        for file in files:
            knowledge.upload(
                Upload(file.filename or "", file.content_type, file.file),
                collection=collection.strip() or None,
                metadata_json=metadata,
                # Kept on the document only until it is parsed; never logged nor shown again.
                password=pdf_password or None,
            )
    except KBError as exc:
        extra = {"upload_error": exc.message}
        return _content_page(page, content, activity, resource_id, extra, exc.status_code)
    target = f"{PREFIX}/resources/{resource_id}/content?uploaded={len(files)}"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


@router.post("/resources/{resource_id}/content/search", dependencies=[CsrfChecked])
def search_playground(
    page: PageDep,
    resource_id: str,
    content: PortalContentDep,
    activity: ContentActivityDep,
    query: Annotated[str, Form()],
    collections: Annotated[list[str] | None, Form()] = None,
    meta_key: Annotated[list[str] | None, Form()] = None,
    meta_value: Annotated[list[str] | None, Form()] = None,
    max_results: Annotated[int, Form(ge=1, le=100)] = 5,
    min_similarity: Annotated[float, Form(ge=0.0, le=1.0)] = 0.0,
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
    kb = content.knowledge_base(page.actor, resource_id)
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
    return _content_page(page, content, activity, resource_id, extra)


@router.post("/resources/{resource_id}/content/documents/{document_id}/delete", dependencies=[CsrfChecked])
def delete_document(
    resource_id: str,
    document_id: str,
    actor: PortalActorDep,
    content: PortalContentDep,
    view: Annotated[str, Form(max_length=1000)] = "",
) -> RedirectResponse:
    content.knowledge(content.knowledge_base(actor, resource_id)).delete_document(document_id)
    # Back to the page of the table the row was on; rebuilt from known fields, never echoed as sent.
    shown = DocumentsView.parse(dict(parse_qsl(view.removeprefix("?")))).query()
    target = f"{PREFIX}/resources/{resource_id}/content{shown}{'&' if shown else '?'}deleted=document"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


@router.post("/resources/{resource_id}/content/collections/delete", dependencies=[CsrfChecked])
def delete_collection(
    resource_id: str, actor: PortalActorDep, content: PortalContentDep, name: Annotated[str, Form()]
) -> RedirectResponse:
    content.knowledge(content.knowledge_base(actor, resource_id)).delete_collection(name)
    target = f"{PREFIX}/resources/{resource_id}/content?deleted=collection"
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
