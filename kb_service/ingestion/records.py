"""What the pipeline writes to the store: chunk records with ids derived from their source and position
(so a re-run overwrites, never duplicates), and what each chunk-job mode replaces (pure functions)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kb_service.ingestion.chunking import TextChunk
from kb_service.ingestion.parsing import DocumentKind
from kb_service.knowledge.models import Document
from kb_service.vectorstores.base import And, Chunk, Eq, Filter, In, Or, all_of

METADATA_MODE = "metadata"
DELETE_MODE = "delete"

_CHUNK_NAMESPACE = uuid.UUID("0b9f4f7e-3c41-4a55-9d0e-6a1f2b1c7d10")


def chunk_id_for(source_id: str, position: int) -> str:
    return uuid.uuid5(_CHUNK_NAMESPACE, f"{source_id}:{position}").hex


@dataclass(frozen=True, slots=True)
class DocumentSnapshot:
    id: str
    kind: DocumentKind
    filename: str
    collection: str
    metadata: dict[str, str]
    password: str | None

    @classmethod
    def of(cls, document: Document) -> DocumentSnapshot:
        return cls(
            document.id,
            "pdf" if document.kind == "pdf" else "txt",
            document.filename,
            document.collection.name,
            dict(document.doc_metadata),
            document.password,
        )


def file_chunk(doc: DocumentSnapshot, chunk: TextChunk) -> Chunk:
    return Chunk(
        chunk_id=chunk_id_for(doc.id, chunk.position),
        collection=doc.collection,
        text=chunk.text,
        source_id=doc.id,
        metadata=doc.metadata,
        document_id=doc.id,
        page=chunk.page,
        human_readable_id=doc.filename,
        position=chunk.position,
    )


def pushed_chunk(job_id: str, collection: str, position: int, item: dict[str, Any]) -> Chunk:
    return Chunk(
        chunk_id=chunk_id_for(job_id, position),
        collection=collection,
        text=item["text"],
        source_id=job_id,
        metadata=dict(item.get("metadata") or {}),
        human_readable_id=item.get("human_readable_id"),
        mx_object_id=item.get("mx_object_id"),
        mx_entity=item.get("mx_entity"),
        position=position,
    )


def job_replaces(mode: str, collection: str, records: Sequence[Chunk]) -> Filter | None:
    """What a chunk job removes besides writing its chunks (in the same store operation)."""
    match mode:
        case "insert":
            return None
        case "repopulate":
            return Eq("collection", collection)
        case "replace":
            objects = sorted({(r.mx_object_id or "", r.mx_entity) for r in records})
            per_object: list[Filter] = []
            for object_id, entity in objects:
                condition = all_of(Eq("mx_object_id", object_id), Eq("mx_entity", entity) if entity else None)
                assert condition is not None
                per_object.append(condition)
            return And((Eq("collection", collection), Or(tuple(per_object))))
    raise ValueError(f"unknown chunk-job mode {mode!r}")


@dataclass(frozen=True, slots=True)
class ChunkDeletion:
    """The payload of a `delete` chunk job: app objects whose chunks of the job's collection go (of
    one entity, if given). Queued like every change, so a delete accepted after an insert of the same
    objects removes what that insert wrote."""

    object_ids: tuple[str, ...]
    entity: str | None = None

    def target(self, collection: str) -> Filter:
        where = all_of(
            Eq("collection", collection),
            In("mx_object_id", self.object_ids),
            Eq("mx_entity", self.entity) if self.entity else None,
        )
        assert where is not None
        return where

    def to_payload(self) -> dict[str, Any]:
        return {"mx_object_ids": list(self.object_ids), "mx_entity": self.entity}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ChunkDeletion:
        return cls(tuple(payload.get("mx_object_ids") or ()), payload.get("mx_entity"))


@dataclass(frozen=True, slots=True)
class MetadataEdit:
    """The payload of a `metadata` chunk job: which chunks of the job's collection (one document's,
    or some app objects'), and the edit (`replace`, then `set`, then `remove`, as the store applies it).
    It is stored as JSON on the job, so the worker applies it in the collection's job order."""

    document_id: str | None = None
    object_ids: tuple[str, ...] = ()
    entity: str | None = None
    set: Mapping[str, str] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    replace: Mapping[str, str] | None = None

    def target(self, collection: str) -> Filter:
        if self.document_id is not None:
            chosen: Filter = Eq("document_id", self.document_id)
        else:
            chosen = In("mx_object_id", self.object_ids)
        where = all_of(
            Eq("collection", collection), chosen, Eq("mx_entity", self.entity) if self.entity else None
        )
        assert where is not None
        return where

    def resolve(self, metadata: Mapping[str, str]) -> dict[str, str]:
        """`metadata` with this edit applied."""
        updated = dict(self.replace if self.replace is not None else metadata)
        updated.update(self.set)
        for key in self.remove:
            updated.pop(key, None)
        return updated

    def to_payload(self) -> dict[str, Any]:
        return {
            "document_id": self.document_id,
            "mx_object_ids": list(self.object_ids),
            "mx_entity": self.entity,
            "set": dict(self.set),
            "remove": list(self.remove),
            "replace": None if self.replace is None else dict(self.replace),
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> MetadataEdit:
        replace = payload.get("replace")
        return cls(
            document_id=payload.get("document_id"),
            object_ids=tuple(payload.get("mx_object_ids") or ()),
            entity=payload.get("mx_entity"),
            set=dict(payload.get("set") or {}),
            remove=tuple(payload.get("remove") or ()),
            replace=None if replace is None else dict(replace),
        )
