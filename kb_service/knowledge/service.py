"""Knowledge-base content on the API side: accept uploads and pushed chunks, list, delete.

Accepting work means committing a row and sending a task after the commit; the workers do the rest
(kb_service.ingestion.service). Every method works inside one knowledge base, fixed at construction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

from kb_service.activity.service import ActivityService
from kb_service.config import Settings
from kb_service.db import utcnow
from kb_service.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    translate_store_errors,
)
from kb_service.ingestion.parsing import detect_kind
from kb_service.ingestion.records import DELETE_MODE, METADATA_MODE, ChunkDeletion, MetadataEdit
from kb_service.knowledge.models import DEFAULT_COLLECTION, ChunkJob, Collection, Document, WorkStatus
from kb_service.knowledge.repository import KnowledgeRepository
from kb_service.knowledge.uploads import (
    clean_filename,
    read_limited,
    validate_collection_name,
    validate_metadata,
    validate_pushed_chunk,
)
from kb_service.queue.broker import PROCESS_CHUNK_JOB, PROCESS_DOCUMENT
from kb_service.queue.outbox import Outbox
from kb_service.resources.models import Resource
from kb_service.retrieval.filters import metadata_equals
from kb_service.vectorstores.base import ChunkPage, Eq, Filter, In, VectorStore, all_of
from schemas.knowledge import ChunkJobCreate, MetadataPatch


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    content_type: str | None
    stream: BinaryIO


@dataclass(frozen=True, slots=True)
class UploadResult:
    document: Document
    unchanged: bool


@dataclass(frozen=True, slots=True)
class CollectionSummary:
    collection: Collection
    document_count: int
    chunk_count: int


@dataclass(frozen=True, slots=True)
class DocumentMetadataEdit:
    document: Document
    job: ChunkJob


def _checked_patch(patch: MetadataPatch) -> MetadataEdit:
    """The patch as an edit, refused (422, naming the field) unless it changes something valid."""
    if patch.metadata is None and not patch.set and not patch.remove:
        raise InvalidInput("Give `metadata` (a new map), `set` or `remove`.", details={"field": "metadata"})
    if patch.metadata is not None:
        validate_metadata(dict(patch.metadata), "metadata")
    validate_metadata(dict(patch.set), "set")
    for key in patch.remove:
        if not key.strip():
            raise InvalidInput("`remove` has an empty key.", details={"field": "remove"})
        if key in patch.set:
            raise InvalidInput(f"The key {key!r} is both set and removed.", details={"field": "remove"})
    return MetadataEdit(
        set=dict(patch.set), remove=tuple(dict.fromkeys(patch.remove)), replace=patch.metadata
    )


class KnowledgeService:
    """One knowledge base's content as one caller (`actor`: a user's email or `key:<id>`) changes it;
    every change is recorded in the KB's activity log under that name."""

    def __init__(
        self,
        kb: Resource,
        repo: KnowledgeRepository,
        store: VectorStore,
        outbox: Outbox,
        activity: ActivityService,
        settings: Settings,
        *,
        actor: str,
    ) -> None:
        self._kb = kb
        self._repo = repo
        self._store = store
        self._outbox = outbox
        self._activity = activity
        self._settings = settings
        self._actor = actor

    def _log(self, action: str, **detail: str) -> None:
        self._activity.record(self._kb.id, self._actor, action, **detail)

    def _collection(self, name: str) -> Collection:
        collection, created = self._repo.get_or_create_collection_noting(name)
        if created:
            self._log("collection.created", collection=collection.name)
        return collection

    # --- documents ----------------------------------------------------------------------------

    def upload(
        self,
        upload: Upload,
        *,
        collection: str | None,
        metadata: Mapping[str, str],
        password: str | None,
    ) -> UploadResult:
        filename = clean_filename(upload.filename)
        data = read_limited(upload.stream, self._settings.max_upload_bytes)
        if not data:
            raise InvalidInput(f"The file {filename!r} is empty.", details={"field": "file"})
        kind = detect_kind(filename, upload.content_type, data[:1024])
        if kind is None:
            raise UnsupportedMediaType(
                f"Only TXT and PDF files are supported; {filename!r} is neither.",
                details={"filename": filename, "content_type": upload.content_type},
            )
        metadata = dict(metadata)
        target = self._collection(validate_collection_name(collection or DEFAULT_COLLECTION))
        sha256 = hashlib.sha256(data).hexdigest()

        named = self._repo.documents_named(target.id, filename)
        previous = [d for d in named if d.status != WorkStatus.FAILED]
        if previous and previous[0].sha256 == sha256 and previous[0].doc_metadata == metadata:
            return UploadResult(previous[0], unchanged=True)
        current = next((d for d in previous if d.status == WorkStatus.INDEXED), None)
        document = self._repo.add_document(
            Document(
                kb_id=self._kb.id,
                collection_id=target.id,
                filename=filename,
                kind=kind,
                content_type=upload.content_type,
                size_bytes=len(data),
                sha256=sha256,
                doc_metadata=metadata,
                password=password or None,
                replaces_document_id=current.id if current else None,
            ),
            data,
        )
        for failed in (d for d in named if d.status == WorkStatus.FAILED):
            # A new attempt replaces the failed ones of the same file (e.g. an encrypted PDF sent again
            # with its password): the collection keeps one row per file, not a trail of failures.
            self._repo.delete_document(failed)
        for older in previous:
            if older.status in WorkStatus.unfinished():
                older.status = WorkStatus.FAILED
                older.error = f"Replaced by a newer upload of the same file (document {document.id})."
                older.lease_owner = None
                older.finished_at = utcnow()
        self._log("document.uploaded", document_id=document.id, filename=filename)
        self._outbox.send(PROCESS_DOCUMENT, document.id)
        return UploadResult(document, unchanged=False)

    def document(self, document_id: str) -> Document:
        document = self._repo.document(document_id)
        if document is None:
            raise NotFound(f"Document {document_id} not found in this knowledge base.")
        return document

    def list_documents(
        self, *, collection: str | None, status: str | None, offset: int, limit: int
    ) -> tuple[list[Document], int]:
        collection_id = None
        if collection is not None:
            found = self._repo.collection(collection)
            if found is None:
                return [], 0
            collection_id = found.id
        return self._repo.list_documents(
            collection_id=collection_id, status=status, offset=offset, limit=limit
        )

    def update_document_metadata(self, document_id: str, patch: MetadataPatch) -> DocumentMetadataEdit:
        """The row's metadata changes at once; its chunks change in place (never re-embedded) by a
        `metadata` job queued behind the collection's earlier jobs. The job carries the whole new
        map, so edits converge whatever the order of their jobs; a document still being ingested
        is written with the metadata current when its worker finishes (IngestionService)."""
        edit = _checked_patch(patch)
        document = self._repo.document_for_update(document_id)
        if document is None:
            raise NotFound(f"Document {document_id} not found in this knowledge base.")
        updated = edit.resolve(document.doc_metadata)
        validate_metadata(updated, "metadata")
        document.doc_metadata = updated
        job = self._queue_metadata_job(document.collection, MetadataEdit(document.id, replace=updated))
        self._log("document.metadata_updated", document_id=document.id, filename=document.filename)
        return DocumentMetadataEdit(document, job)

    def delete_document(self, document_id: str) -> None:
        document = self.document(document_id)
        # The row goes first (and is locked until commit), so a worker finishing this document
        # concurrently fails its conditional finish and removes what it wrote.
        self._repo.delete_document(document)
        self._log("document.deleted", document_id=document.id, filename=document.filename)
        with translate_store_errors():
            self._store.delete(self._kb.id, Eq("document_id", document_id))

    # --- collections --------------------------------------------------------------------------

    def collections(self) -> list[CollectionSummary]:
        with translate_store_errors():
            chunk_counts = self._store.count_by(self._kb.id, "collection")
        return [
            CollectionSummary(collection, documents, chunk_counts.get(collection.name, 0))
            for collection, documents in self._repo.list_collections()
        ]

    def delete_collection(self, name: str) -> None:
        collection = self._existing_collection(name)
        if collection.is_default:
            raise Conflict(
                f"The {collection.name!r} collection cannot be deleted; every knowledge base keeps it. "
                "To empty it, delete its documents, or push a `repopulate` job with no chunks.",
                details={"collection": collection.name},
            )
        self._repo.delete_collection(collection)
        self._log("collection.deleted", collection=collection.name)
        with translate_store_errors():
            self._store.delete(self._kb.id, Eq("collection", name))

    def _existing_collection(self, name: str) -> Collection:
        collection = self._repo.collection(name)
        if collection is None:
            raise NotFound(f"Collection {name!r} not found in this knowledge base.")
        return collection

    # --- pushed chunks ------------------------------------------------------------------------

    def push_chunks(self, collection_name: str, request: ChunkJobCreate) -> ChunkJob:
        name = validate_collection_name(collection_name)
        if len(request.chunks) > self._settings.max_chunks_per_request:
            raise PayloadTooLarge(
                f"At most {self._settings.max_chunks_per_request} chunks per request; "
                f"got {len(request.chunks)}. Split the list over several requests."
            )
        if not request.chunks and request.mode != "repopulate":
            raise InvalidInput(f"`chunks` is empty; {request.mode} needs at least one chunk.")
        for index, chunk in enumerate(request.chunks):
            validate_pushed_chunk(index, chunk.text, chunk.human_readable_id, chunk.metadata)
            if request.mode == "replace" and not chunk.mx_object_id:
                raise InvalidInput(
                    f"chunks[{index}] ({chunk.human_readable_id!r}) has no mx_object_id; "
                    "replace swaps the chunks of app objects, so every chunk needs one.",
                    details={"field": f"chunks[{index}].mx_object_id"},
                )
        collection = self._collection(name)
        job = self._repo.add_job(
            ChunkJob(
                kb_id=self._kb.id,
                collection_id=collection.id,
                mode=request.mode,
                payload=[chunk.model_dump() for chunk in request.chunks],
                chunk_count=len(request.chunks),
            )
        )
        self._log("chunks.pushed", job_id=job.id, mode=job.mode)
        self._outbox.send(PROCESS_CHUNK_JOB, job.id)
        return job

    def job(self, job_id: str) -> ChunkJob:
        job = self._repo.job(job_id)
        if job is None:
            raise NotFound(f"Job {job_id} not found in this knowledge base.")
        return job

    def delete_object_chunks(
        self, collection_name: str, object_ids: list[str], entity: str | None
    ) -> ChunkJob:
        """Delete app objects' chunks as a `delete` job, applied after the collection's earlier jobs
        (so an insert accepted before it never brings the chunks back); its `chunk_count` is how
        many chunks it removed, once indexed."""
        if not object_ids:
            raise InvalidInput("Give at least one mx_object_id.", details={"field": "mx_object_id"})
        collection = self._existing_collection(collection_name)
        deletion = ChunkDeletion(tuple(dict.fromkeys(object_ids)), entity)
        job = self._repo.add_job(
            ChunkJob(
                kb_id=self._kb.id,
                collection_id=collection.id,
                mode=DELETE_MODE,
                payload=deletion.to_payload(),
            )
        )
        self._log("chunks.deleted", job_id=job.id, mode=job.mode)
        self._outbox.send(PROCESS_CHUNK_JOB, job.id)
        return job

    def update_object_metadata(
        self, collection_name: str, object_ids: list[str], entity: str | None, patch: MetadataPatch
    ) -> ChunkJob:
        """Edit the metadata of app objects' chunks in place (never re-embedded), as a `metadata`
        job applied after the collection's earlier jobs (a queued insert of the same objects too)."""
        if not object_ids:
            raise InvalidInput("Give at least one mx_object_id.", details={"field": "mx_object_id"})
        edit = _checked_patch(patch)
        collection = self._existing_collection(collection_name)
        target = MetadataEdit(
            object_ids=tuple(object_ids),
            entity=entity,
            set=edit.set,
            remove=edit.remove,
            replace=edit.replace,
        )
        job = self._queue_metadata_job(collection, target)
        self._log("chunks.metadata_updated", job_id=job.id, mode=job.mode)
        return job

    def _queue_metadata_job(self, collection: Collection, edit: MetadataEdit) -> ChunkJob:
        job = self._repo.add_job(
            ChunkJob(
                kb_id=self._kb.id,
                collection_id=collection.id,
                mode=METADATA_MODE,
                payload=edit.to_payload(),
            )
        )
        self._outbox.send(PROCESS_CHUNK_JOB, job.id)
        return job

    def list_chunks(
        self,
        collection_name: str,
        *,
        offset: int,
        limit: int,
        metadata: Mapping[str, str],
        where: Filter | None,
        object_ids: list[str],
        entity: str | None,
    ) -> ChunkPage:
        self._existing_collection(collection_name)
        condition = all_of(
            Eq("collection", collection_name),
            In("mx_object_id", tuple(object_ids)) if object_ids else None,
            Eq("mx_entity", entity) if entity else None,
            metadata_equals(metadata),
            where,
        )
        with translate_store_errors():
            return self._store.list_chunks(self._kb.id, where=condition, offset=offset, limit=limit)
