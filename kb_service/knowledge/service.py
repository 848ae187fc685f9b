"""Knowledge-base content on the API side: accept uploads and pushed chunks, list, delete.

Accepting work means committing a row and sending a task after the commit; the workers do the rest
(kb_service.ingestion.service). Every method works inside one knowledge base, fixed at construction.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from kb_service.broker import PROCESS_CHUNK_JOB, PROCESS_DOCUMENT
from kb_service.config import Settings
from kb_service.db import utcnow
from kb_service.dispatch import TaskDispatcher, send_after_commit
from kb_service.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from kb_service.ingestion.parsing import detect_kind
from kb_service.knowledge.models import DEFAULT_COLLECTION, ChunkJob, Collection, Document, WorkStatus
from kb_service.knowledge.repository import KnowledgeRepository
from kb_service.resources.models import Resource
from kb_service.retrieval.filters import metadata_equals, parse_filter
from kb_service.vectorstores.base import ChunkPage, Eq, Filter, In, VectorStore, all_of
from schemas.knowledge import MAX_CHUNK_CHARS, ChunkJobCreate

MAX_NAME_CHARS = 200
MAX_METADATA_PAIRS = 50
MAX_METADATA_CHARS = 1000


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


class KnowledgeService:
    def __init__(
        self,
        session: Session,
        kb: Resource,
        store: VectorStore,
        dispatcher: TaskDispatcher,
        settings: Settings,
    ) -> None:
        self._session = session
        self._kb = kb
        self._repo = KnowledgeRepository(session, kb.id)
        self._store = store
        self._dispatcher = dispatcher
        self._settings = settings

    # --- documents ----------------------------------------------------------------------------

    def upload(
        self,
        upload: Upload,
        *,
        collection: str | None,
        metadata_json: str | None,
        password: str | None,
    ) -> UploadResult:
        filename = _clean_filename(upload.filename)
        data = _read_limited(upload.stream, self._settings.max_upload_bytes)
        if not data:
            raise InvalidInput(f"The file {filename!r} is empty.", details={"field": "file"})
        kind = detect_kind(filename, upload.content_type, data[:1024])
        if kind is None:
            raise UnsupportedMediaType(
                f"Only TXT and PDF files are supported; {filename!r} is neither.",
                details={"filename": filename, "content_type": upload.content_type},
            )
        metadata = parse_metadata_json(metadata_json)
        target = self._repo.get_or_create_collection(
            validate_collection_name(collection or DEFAULT_COLLECTION)
        )
        sha256 = hashlib.sha256(data).hexdigest()

        previous = [
            d for d in self._repo.documents_named(target.id, filename) if d.status != WorkStatus.FAILED
        ]
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
        for older in previous:
            if older.status in WorkStatus.unfinished():
                older.status = WorkStatus.FAILED
                older.error = f"Replaced by a newer upload of the same file (document {document.id})."
                older.lease_owner = None
                older.finished_at = utcnow()
        send_after_commit(self._session, self._dispatcher, PROCESS_DOCUMENT, document.id)
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

    def delete_document(self, document_id: str) -> None:
        document = self.document(document_id)
        # The row goes first (and is locked until commit), so a worker finishing this document
        # concurrently fails its conditional finish and removes what it wrote.
        self._repo.delete_document(document)
        self._store.delete(self._kb.id, Eq("document_id", document_id))

    # --- collections --------------------------------------------------------------------------

    def collections(self) -> list[CollectionSummary]:
        chunk_counts = self._store.count_by(self._kb.id, "collection")
        return [
            CollectionSummary(collection, documents, chunk_counts.get(collection.name, 0))
            for collection, documents in self._repo.list_collections()
        ]

    def delete_collection(self, name: str) -> None:
        collection = self._existing_collection(name)
        self._repo.delete_collection(collection)
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
            _validate_pushed_chunk(index, chunk.text, chunk.human_readable_id, chunk.metadata)
            if request.mode == "replace" and not chunk.mx_object_id:
                raise InvalidInput(
                    f"chunks[{index}] ({chunk.human_readable_id!r}) has no mx_object_id; "
                    "replace swaps the chunks of app objects, so every chunk needs one.",
                    details={"field": f"chunks[{index}].mx_object_id"},
                )
        collection = self._repo.get_or_create_collection(name)
        job = self._repo.add_job(
            ChunkJob(
                kb_id=self._kb.id,
                collection_id=collection.id,
                mode=request.mode,
                payload=[chunk.model_dump() for chunk in request.chunks],
                chunk_count=len(request.chunks),
            )
        )
        send_after_commit(self._session, self._dispatcher, PROCESS_CHUNK_JOB, job.id)
        return job

    def job(self, job_id: str) -> ChunkJob:
        job = self._repo.job(job_id)
        if job is None:
            raise NotFound(f"Job {job_id} not found in this knowledge base.")
        return job

    def delete_object_chunks(self, collection_name: str, object_ids: list[str], entity: str | None) -> int:
        if not object_ids:
            raise InvalidInput("Give at least one mx_object_id.", details={"field": "mx_object_id"})
        self._existing_collection(collection_name)
        where = all_of(
            Eq("collection", collection_name),
            In("mx_object_id", tuple(object_ids)),
            Eq("mx_entity", entity) if entity else None,
        )
        assert where is not None
        return self._store.delete(self._kb.id, where)

    def list_chunks(
        self,
        collection_name: str,
        *,
        offset: int,
        limit: int,
        metadata_json: str | None,
        filter_json: str | None,
        object_ids: list[str],
        entity: str | None,
    ) -> ChunkPage:
        self._existing_collection(collection_name)
        where = all_of(
            Eq("collection", collection_name),
            In("mx_object_id", tuple(object_ids)) if object_ids else None,
            Eq("mx_entity", entity) if entity else None,
            metadata_equals(parse_metadata_json(metadata_json, field="metadata")),
            _parse_filter_json(filter_json),
        )
        return self._store.list_chunks(self._kb.id, where=where, offset=offset, limit=limit)


# --- validation helpers (pure) ------------------------------------------------------------------


def validate_collection_name(name: str) -> str:
    cleaned = unicodedata.normalize("NFC", name).strip()
    if (
        not cleaned
        or len(cleaned) > MAX_NAME_CHARS
        or any(unicodedata.category(c)[0] == "C" for c in cleaned)
    ):
        raise InvalidInput(
            f"Invalid collection name {name!r}: use 1-{MAX_NAME_CHARS} printable characters.",
            details={"field": "collection"},
        )
    return cleaned


def parse_metadata_json(raw: str | None, field: str = "metadata") -> dict[str, str]:
    if raw is None or not raw.strip():
        return {}
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"`{field}` is not valid JSON: {exc.msg}.", details={"field": field}) from None
    if not isinstance(value, dict):
        raise InvalidInput(f"`{field}` must be a JSON object of strings.", details={"field": field})
    validate_metadata(value, field)
    return value


def validate_metadata(value: dict[str, Any], field: str = "metadata") -> None:
    if len(value) > MAX_METADATA_PAIRS:
        raise InvalidInput(f"`{field}` has more than {MAX_METADATA_PAIRS} keys.", details={"field": field})
    for key, item in value.items():
        if not key.strip() or len(key) > MAX_NAME_CHARS:
            raise InvalidInput(f"`{field}` has an empty or too long key {key!r}.", details={"field": field})
        if not isinstance(item, str):
            raise InvalidInput(
                f"`{field}` value of {key!r} must be a string, got {type(item).__name__}.",
                details={"field": f"{field}.{key}"},
            )
        if len(item) > MAX_METADATA_CHARS:
            raise InvalidInput(
                f"`{field}` value of {key!r} is longer than {MAX_METADATA_CHARS} characters.",
                details={"field": f"{field}.{key}"},
            )


def _validate_pushed_chunk(index: int, text: str, human_readable_id: str, metadata: dict[str, str]) -> None:
    if len(text) > MAX_CHUNK_CHARS:
        raise InvalidInput(
            f"chunks[{index}] ({human_readable_id!r}) has {len(text)} characters; "
            f"the maximum is {MAX_CHUNK_CHARS}. Split it into smaller chunks.",
            details={"field": f"chunks[{index}].text", "human_readable_id": human_readable_id},
        )
    if not text.strip():
        raise InvalidInput(
            f"chunks[{index}] ({human_readable_id!r}) has no text.",
            details={"field": f"chunks[{index}].text"},
        )
    validate_metadata(dict(metadata), f"chunks[{index}].metadata")


def _parse_filter_json(raw: str | None) -> Filter | None:
    if raw is None or not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"`filter` is not valid JSON: {exc.msg}.", details={"field": "filter"}) from None
    return parse_filter(value)


def _clean_filename(raw: str | None) -> str:
    # Browsers may send a path; keep the last component only.
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = unicodedata.normalize("NFC", name)
    if not name or len(name) > 500 or any(unicodedata.category(c)[0] == "C" for c in name):
        raise InvalidInput(
            "The upload needs a file name of 1-500 printable characters.", details={"field": "file"}
        )
    return name


def _read_limited(stream: BinaryIO, limit: int) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(
            f"The file is larger than the {limit // (1024 * 1024)} MB limit.", details={"limit_bytes": limit}
        )
    return data
