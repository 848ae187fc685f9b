"""OpenAI-compatible routes: `/v1/vector_stores` (a knowledge base is a vector store) and `/v1/files`.

Authentication is the KB key (`Authorization: Bearer`), as on every data-plane route; a KB key reaches
its one vector store, any other id is a 404. Errors keep the service's one JSON body; the status codes
are what the `openai` client maps to its exception classes (400 BadRequestError, 401
AuthenticationError, 404 NotFoundError, 409 ConflictError, 422 UnprocessableEntityError, 429
RateLimitError, 5xx InternalServerError; 410 and 415 are a plain APIStatusError).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile

from kb_service.auth.deps import PrincipalDep
from kb_service.deps import ServicesDep, SingleFormPartsDep, UnitOfWorkRoute
from kb_service.errors import (
    BadRequest,
    CapacityExhausted,
    Gone,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    UpstreamRejected,
    UpstreamUnavailable,
    documented,
)
from kb_service.knowledge.service import Upload
from kb_service.openai_vector_stores.presenters import (
    file_out,
    search_page,
    vector_store_file_out,
    vector_store_out,
)
from kb_service.openai_vector_stores.service import VectorStoreService
from schemas.openai_vector_stores import (
    FileOut,
    FileStatusFilter,
    ListLimit,
    VectorStoreFileCreate,
    VectorStoreFileDeleted,
    VectorStoreFileList,
    VectorStoreFileOut,
    VectorStoreFileUpdate,
    VectorStoreList,
    VectorStoreOut,
    VectorStoreSearchPage,
    VectorStoreSearchRequest,
)

router = APIRouter(route_class=UnitOfWorkRoute, prefix="/v1", tags=["openai-compatible vector stores"])


def get_store(
    vector_store_id: Annotated[str, Path(description="The vector store: a knowledge base id.")],
    principal: PrincipalDep,
    services: ServicesDep,
) -> VectorStoreService:
    kb = services.resources.knowledge_base_of(principal, vector_store_id)
    return services.vector_stores(kb, principal.activity_actor)


def get_own_store(principal: PrincipalDep, services: ServicesDep) -> VectorStoreService:
    """The vector store of the key's own knowledge base (where `POST /v1/files` keeps a file)."""
    kb = services.resources.knowledge_base_of(principal, principal.resource_id)
    return services.vector_stores(kb, principal.activity_actor)


StoreDep = Annotated[VectorStoreService, Depends(get_store)]
OwnStoreDep = Annotated[VectorStoreService, Depends(get_own_store)]
Order = Literal["asc", "desc"]


@router.get("/vector_stores", responses=documented())
def list_vector_stores(
    principal: PrincipalDep, services: ServicesDep, limit: ListLimit = 20
) -> VectorStoreList:
    """The vector stores the key reaches: a KB key reaches its one knowledge base."""
    stores = [vector_store_out(s) for s in services.reachable_vector_stores(principal)][:limit]
    ids = [s.id for s in stores]
    return VectorStoreList(
        data=stores, first_id=next(iter(ids), None), last_id=ids[-1] if ids else None, has_more=False
    )


@router.get("/vector_stores/{vector_store_id}", responses=documented(Gone, NotFound))
def get_vector_store(store: StoreDep) -> VectorStoreOut:
    return vector_store_out(store.summary())


@router.post(
    "/vector_stores/{vector_store_id}/search",
    responses=documented(
        Gone, BadRequest, NotFound, CapacityExhausted, UpstreamRejected, UpstreamUnavailable
    ),
)
def search_vector_store(store: StoreDep, body: VectorStoreSearchRequest) -> VectorStoreSearchPage:
    """The knowledge base's vector search; `filters` are translated into the search `filter`."""
    return search_page(*store.search(body))


@router.post(
    "/files", responses=documented(Gone, InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType)
)
def upload_file(
    store: OwnStoreDep,
    _single_parts: SingleFormPartsDep,
    file: Annotated[UploadFile, File(description="A TXT or PDF file.")],
    purpose: Annotated[str, Form(description="`assistants`.")],
) -> FileOut:
    """Upload a file for the key's vector store; attach it with `POST /v1/vector_stores/{id}/files`."""
    return file_out(store.stage_file(Upload(file.filename or "", file.content_type, file.file), purpose))


@router.post(
    "/vector_stores/{vector_store_id}/files",
    responses=documented(Gone, BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType),
)
def attach_file(store: StoreDep, body: VectorStoreFileCreate) -> VectorStoreFileOut:
    """Index an uploaded file: its `attributes` pick the collection and give the metadata."""
    return vector_store_file_out(store.attach(body))


@router.get("/vector_stores/{vector_store_id}/files", responses=documented(Gone, NotFound))
def list_files(
    store: StoreDep,
    limit: ListLimit = 20,
    order: Order = "desc",
    after: Annotated[str | None, Query(description="The file id to list after.")] = None,
    filter: Annotated[FileStatusFilter | None, Query(description="Only files in this status.")] = None,
) -> VectorStoreFileList:
    files, more = store.files(status=filter, after=after, limit=limit, newest_first=order == "desc")
    data = [vector_store_file_out(f) for f in files]
    ids = [f.id for f in data]
    return VectorStoreFileList(
        data=data, first_id=next(iter(ids), None), last_id=ids[-1] if ids else None, has_more=more
    )


@router.get("/vector_stores/{vector_store_id}/files/{file_id}", responses=documented(Gone, NotFound))
def get_file(store: StoreDep, file_id: str) -> VectorStoreFileOut:
    return vector_store_file_out(store.file(file_id))


@router.post(
    "/vector_stores/{vector_store_id}/files/{file_id}", responses=documented(Gone, BadRequest, NotFound)
)
def update_file(store: StoreDep, file_id: str, body: VectorStoreFileUpdate) -> VectorStoreFileOut:
    """Replace the file's attributes (metadata edited in place: nothing is re-embedded)."""
    return vector_store_file_out(store.update(file_id, body))


@router.delete("/vector_stores/{vector_store_id}/files/{file_id}", responses=documented(Gone, NotFound))
def delete_file(store: StoreDep, file_id: str) -> VectorStoreFileDeleted:
    """Remove the file's document and chunks from the vector store (the uploaded file stays)."""
    return VectorStoreFileDeleted(id=store.delete(file_id))
