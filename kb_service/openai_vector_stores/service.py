"""A knowledge base as an OpenAI vector store: its documents as the store's files, its search as the
store's search — carried out by the KB's `KnowledgeService` and `RetrievalService` (built by the
composition root), so nothing here re-implements a rule of uploads, metadata edits or search.

A vector-store file's id is the id of the file uploaded with `POST /v1/files` when the document came
from one, else the document's own id (a document uploaded through the REST API or the portal); both
are accepted wherever a file id is. A chunk pushed by an app has no file: search names it
`chunk-<chunk id>`, stable for as long as the chunk is.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kb_service.errors import BadRequest, InvalidInput, NotFound, UnsupportedMediaType
from kb_service.ingestion.parsing import detect_kind
from kb_service.knowledge.models import Document, WorkStatus
from kb_service.knowledge.service import KnowledgeService, Upload
from kb_service.knowledge.uploads import clean_filename, read_limited
from kb_service.openai_vector_stores.attributes import default_collection, split_attributes
from kb_service.openai_vector_stores.filters import translate
from kb_service.openai_vector_stores.models import FILE_ID_PREFIX, StagedFile
from kb_service.openai_vector_stores.repository import VectorStoreRepository
from kb_service.resources.models import Resource
from kb_service.retrieval.service import RetrievalService, ScoredHit
from schemas.knowledge import MetadataPatch
from schemas.openai_vector_stores import (
    FileStatusFilter,
    VectorStoreFileCreate,
    VectorStoreFileUpdate,
    VectorStoreSearchRequest,
)
from schemas.retrieval import SearchRequest

PURPOSE = "assistants"
CHUNK_FILE_PREFIX = "chunk-"
# OpenAI's file statuses, as the pipeline's statuses.
STATUSES_OF: dict[FileStatusFilter, tuple[WorkStatus, ...]] = {
    "in_progress": WorkStatus.unfinished(),
    "completed": (WorkStatus.INDEXED,),
    "failed": (WorkStatus.FAILED,),
    "cancelled": (),
}


@dataclass(frozen=True, slots=True)
class StoreFile:
    """A document as a vector-store file, under the id the client knows it by."""

    id: str
    document: Document


@dataclass(frozen=True, slots=True)
class StoreSummary:
    kb: Resource
    # status -> (documents, bytes)
    counts: dict[str, tuple[int, int]]


@dataclass(frozen=True, slots=True)
class SearchHitView:
    hit: ScoredHit
    file_id: str
    filename: str


class VectorStoreService:
    def __init__(
        self,
        kb: Resource,
        repo: VectorStoreRepository,
        knowledge: KnowledgeService,
        retrieval: Callable[[], RetrievalService],
        *,
        max_upload_bytes: int,
        reranker_available: bool,
    ) -> None:
        self._kb = kb
        self._repo = repo
        self._knowledge = knowledge
        self._retrieval = retrieval
        self._max_upload_bytes = max_upload_bytes
        self._reranker_available = reranker_available

    def summary(self) -> StoreSummary:
        return StoreSummary(self._kb, self._repo.status_counts())

    # --- files ----------------------------------------------------------------------------------

    def stage_file(self, upload: Upload, purpose: str) -> StagedFile:
        """Keep an uploaded file until it is attached; refused early when it could never be indexed."""
        if purpose != PURPOSE:
            raise InvalidInput(
                f"purpose {purpose!r} is not supported; files for a vector store use `{PURPOSE}`.",
                field="purpose",
            )
        filename = clean_filename(upload.filename)
        data = read_limited(upload.stream, self._max_upload_bytes)
        if not data:
            raise InvalidInput(f"The file {filename!r} is empty.", field="file")
        if detect_kind(filename, upload.content_type, data[:1024]) is None:
            raise UnsupportedMediaType(
                f"Only TXT and PDF files are supported; {filename!r} is neither.",
                details={"filename": filename, "content_type": upload.content_type},
            )
        return self._repo.add_file(
            StagedFile(
                kb_id=self._kb.id,
                filename=filename,
                content_type=upload.content_type,
                purpose=purpose,
                size_bytes=len(data),
                data=data,
            )
        )

    def attach(self, request: VectorStoreFileCreate) -> StoreFile:
        """The file through the upload pipeline, into the collection its attributes name."""
        if request.chunking_strategy is not None and request.chunking_strategy.type != "auto":
            raise BadRequest(
                "Only the `auto` chunking strategy: the knowledge base chunks files its own way.",
                field="chunking_strategy",
            )
        staged = self._repo.file(request.file_id)
        if staged is None:
            raise NotFound(f"File {request.file_id} not found; upload it with POST /v1/files first.")
        collection, metadata = split_attributes(request.attributes)
        result = self._knowledge.upload(
            _bytes_upload(staged), collection=default_collection(collection), metadata=metadata, password=None
        )
        staged.document_id = result.document.id
        return StoreFile(staged.id, result.document)

    def files(
        self, *, status: FileStatusFilter | None, after: str | None, limit: int, newest_first: bool
    ) -> tuple[list[StoreFile], bool]:
        """A page of files and whether more follow."""
        cursor = self._document(after).id if after is not None else None
        statuses = STATUSES_OF[status] if status is not None else None
        documents = self._repo.documents_page(
            statuses=statuses, after=cursor, newest_first=newest_first, limit=limit + 1
        )
        return self._as_files(documents[:limit]), len(documents) > limit

    def file(self, file_id: str) -> StoreFile:
        document = self._document(file_id)
        return StoreFile(file_id if file_id.startswith(FILE_ID_PREFIX) else self._id_of(document), document)

    def update(self, file_id: str, request: VectorStoreFileUpdate) -> StoreFile:
        """New attributes through the metadata edit: the chunks change in place, nothing re-embeds."""
        current = self.file(file_id)
        collection, metadata = split_attributes(request.attributes)
        if collection is not None and collection != current.document.collection.name:
            raise BadRequest(
                f"The file is in collection {current.document.collection.name!r}; moving it to "
                f"{collection!r} would re-embed it. Delete it and attach it again with that collection.",
                field="attributes.collection",
            )
        edited = self._knowledge.update_document_metadata(
            current.document.id, MetadataPatch(metadata=metadata)
        )
        return StoreFile(current.id, edited.document)

    def delete(self, file_id: str) -> str:
        """The document and its chunks go; the uploaded file stays (as with OpenAI)."""
        document = self._document(file_id)
        self._repo.detach(document.id)
        self._knowledge.delete_document(document.id)
        return file_id

    # --- search ---------------------------------------------------------------------------------

    def search(self, request: VectorStoreSearchRequest) -> tuple[list[str], list[SearchHitView]]:
        """(the queries, the hits) of an OpenAI search, run as the REST search runs."""
        queries = [request.query] if isinstance(request.query, str) else list(request.query)
        if request.rewrite_query:
            raise BadRequest(
                "rewrite_query is not supported: the query is searched as given. Send it without "
                "`rewrite_query` (or false).",
                field="rewrite_query",
            )
        if not queries:
            raise InvalidInput("`query` is an empty list; give at least one question.", field="query")
        collections, where = translate(request.filters)
        ranking = request.ranking_options
        ranker = ranking.ranker if ranking is not None else "auto"
        outcome = self._retrieval().search(
            _search_request(
                {
                    "query": "\n".join(queries),
                    "collections": collections,
                    "filter": where,
                    "max_results": request.max_num_results,
                    "min_similarity": ranking.score_threshold if ranking is not None else None,
                    "rerank": ranker != "none" and self._reranker_available,
                }
            )
        )
        document_ids = {hit.chunk.document_id for hit in outcome.hits if hit.chunk.document_id}
        file_ids = self._repo.file_ids_of(document_ids)
        filenames = self._repo.filenames(document_ids)
        views = []
        for hit in outcome.hits:
            chunk = hit.chunk
            if chunk.document_id is None:
                file_id = CHUNK_FILE_PREFIX + chunk.chunk_id
                filename = chunk.human_readable_id or chunk.chunk_id
            else:
                file_id = file_ids.get(chunk.document_id, chunk.document_id)
                filename = filenames.get(chunk.document_id, "")
            views.append(SearchHitView(hit, file_id, filename))
        return queries, views

    # --- helpers --------------------------------------------------------------------------------

    def _document(self, file_id: str) -> Document:
        """The document a vector-store file id stands for (a file id, or a document id)."""
        if file_id.startswith(FILE_ID_PREFIX):
            staged = self._repo.file(file_id)
            if staged is None or staged.document_id is None:
                raise NotFound(f"File {file_id} is not in vector store {self._kb.id}.")
            file_id = staged.document_id
        try:
            return self._knowledge.document(file_id)
        except NotFound:
            raise NotFound(f"File {file_id} is not in vector store {self._kb.id}.") from None

    def _id_of(self, document: Document) -> str:
        return self._repo.file_ids_of([document.id]).get(document.id, document.id)

    def _as_files(self, documents: list[Document]) -> list[StoreFile]:
        file_ids = self._repo.file_ids_of([d.id for d in documents])
        return [StoreFile(file_ids.get(d.id, d.id), d) for d in documents]


def _bytes_upload(staged: StagedFile) -> Upload:
    return Upload(staged.filename, staged.content_type, io.BytesIO(staged.data))


def _search_request(fields: dict[str, Any]) -> SearchRequest:
    """The REST search request, validated as the REST route validates it (a 422 names the field)."""
    try:
        return SearchRequest.model_validate(fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise InvalidInput(f"Invalid request: {where}: {error['msg']}.", field=where) from None
