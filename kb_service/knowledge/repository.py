"""All SQL over knowledge-base content.

`KnowledgeRepository` is scoped to one knowledge base at construction: every read filters by that KB,
so a foreign id simply is not found. `WorkRepository` serves the workers, which hold only ids, and
implements the claim / heartbeat / finish protocol of leased work.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, CursorResult, Result, and_, delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from kb_service.knowledge.models import (
    DEFAULT_COLLECTION,
    ChunkJob,
    Collection,
    Document,
    DocumentBlob,
    EmbeddedBatch,
    WorkStatus,
)

Leased = TypeVar("Leased", Document, ChunkJob)


class KnowledgeRepository:
    def __init__(self, session: Session, kb_id: str) -> None:
        self._session = session
        self.kb_id = kb_id

    # --- collections --------------------------------------------------------------------------

    def collection(self, name: str) -> Collection | None:
        query = select(Collection).where(Collection.kb_id == self.kb_id, Collection.name == name)
        return self._session.scalars(query).one_or_none()

    def get_or_create_collection(self, name: str) -> Collection:
        return self.get_or_create_collection_noting(name)[0]

    def get_or_create_collection_noting(self, name: str) -> tuple[Collection, bool]:
        """The collection, and whether this call created it."""
        existing = self.collection(name)
        if existing is not None:
            return existing, False
        try:
            # A savepoint, so losing a race with a concurrent request does not spoil the transaction.
            with self._session.begin_nested():
                created = Collection(kb_id=self.kb_id, name=name, is_default=name == DEFAULT_COLLECTION)
                self._session.add(created)
            return created, True
        except IntegrityError:
            winner = self.collection(name)
            assert winner is not None
            return winner, False

    def list_collections(self) -> list[tuple[Collection, int]]:
        doc_count = (
            select(func.count(Document.id))
            .where(Document.collection_id == Collection.id, Document.status != WorkStatus.FAILED)
            .scalar_subquery()
        )
        query = select(Collection, doc_count).where(Collection.kb_id == self.kb_id).order_by(Collection.name)
        return [(c, int(n)) for c, n in self._session.execute(query)]

    def delete_collection(self, collection: Collection) -> None:
        sources = (
            select(Document.id)
            .where(Document.collection_id == collection.id)
            .union_all(select(ChunkJob.id).where(ChunkJob.collection_id == collection.id))
        )
        self._session.execute(delete(EmbeddedBatch).where(EmbeddedBatch.source_id.in_(sources)))
        self._session.delete(collection)
        self._session.flush()

    # --- documents ----------------------------------------------------------------------------

    def document(self, document_id: str) -> Document | None:
        query = select(Document).where(Document.kb_id == self.kb_id, Document.id == document_id)
        return self._session.scalars(query).one_or_none()

    def document_for_update(self, document_id: str) -> Document | None:
        """The document, its row locked until commit (PostgreSQL): edits of its metadata serialise,
        and a worker finishing it waits for them (or they for it)."""
        query = (
            select(Document)
            .where(Document.kb_id == self.kb_id, Document.id == document_id)
            .with_for_update(of=Document)
        )
        return self._session.scalars(query).one_or_none()

    def list_documents(
        self, *, collection_id: str | None, status: str | None, offset: int, limit: int
    ) -> tuple[list[Document], int]:
        conditions = [Document.kb_id == self.kb_id]
        if collection_id is not None:
            conditions.append(Document.collection_id == collection_id)
        if status is not None:
            conditions.append(Document.status == status)
        total = self._session.scalar(select(func.count(Document.id)).where(*conditions)) or 0
        query = (
            select(Document)
            .where(*conditions)
            .order_by(Document.created_at.desc(), Document.id)
            .offset(offset)
            .limit(limit)
        )
        return list(self._session.scalars(query)), total

    def documents_named(self, collection_id: str, filename: str) -> list[Document]:
        """Every upload of this file name into the collection, newest first."""
        query = (
            select(Document)
            .where(
                Document.kb_id == self.kb_id,
                Document.collection_id == collection_id,
                Document.filename == filename,
            )
            .order_by(Document.created_at.desc())
        )
        return list(self._session.scalars(query))

    def add_document(self, document: Document, data: bytes) -> Document:
        self._session.add(document)
        self._session.flush()
        self._session.add(DocumentBlob(document_id=document.id, data=data))
        return document

    def delete_document(self, document: Document) -> None:
        self._session.execute(delete(EmbeddedBatch).where(EmbeddedBatch.source_id == document.id))
        self._session.delete(document)
        self._session.flush()

    # --- chunk jobs ---------------------------------------------------------------------------

    def job(self, job_id: str) -> ChunkJob | None:
        query = select(ChunkJob).where(ChunkJob.kb_id == self.kb_id, ChunkJob.id == job_id)
        return self._session.scalars(query).one_or_none()

    def add_job(self, job: ChunkJob) -> ChunkJob:
        self._session.add(job)
        self._session.flush()
        return job


class WorkRepository:
    """Leased work for the workers. A claim is one conditional UPDATE, so two workers can never hold
    the same document or job; a lease that is not renewed expires and the work can be claimed again."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def claim(self, model: type[Leased], work_id: str, owner: str, now: datetime, lease: timedelta) -> bool:
        conditions = [
            model.id == work_id,
            model.status.in_(WorkStatus.unfinished()),
            or_(model.lease_owner.is_(None), model.lease_expires_at < now),
        ]
        if model is ChunkJob:
            conditions.append(~self._older_unfinished_job_exists())
        result = self._session.execute(
            update(model)
            .where(*conditions)
            .values(
                lease_owner=owner,
                lease_expires_at=now + lease,
                attempts=model.attempts + 1,
                started_at=func.coalesce(model.started_at, now),
            )
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result) == 1

    @staticmethod
    def _older_unfinished_job_exists() -> ColumnElement[bool]:
        # Jobs of one collection apply in the order they were accepted.
        earlier = aliased(ChunkJob)
        return exists().where(
            and_(
                earlier.collection_id == ChunkJob.collection_id,
                earlier.created_at < ChunkJob.created_at,
                earlier.status.in_(WorkStatus.unfinished()),
            )
        )

    def renew(
        self,
        model: type[Leased],
        work_id: str,
        owner: str,
        now: datetime,
        lease: timedelta,
        **values: object,
    ) -> bool:
        """Extend the lease and set `values`; False when the lease was lost (taken over, deleted,
        cancelled) — the holder must then stop."""
        result = self._session.execute(
            update(model)
            .where(model.id == work_id, model.lease_owner == owner, model.status.in_(WorkStatus.unfinished()))
            .values(lease_expires_at=now + lease, updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result) == 1

    def release(
        self,
        model: type[Leased],
        work_id: str,
        owner: str,
        now: datetime,
        note: str | None,
        **values: object,
    ) -> None:
        """Give the lease back without finishing (a transient failure or a pause; it is claimed again)."""
        self._session.execute(
            update(model)
            .where(model.id == work_id, model.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None, error=note, updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )

    def finish(
        self, model: type[Leased], work_id: str, owner: str | None, now: datetime, **values: object
    ) -> bool:
        """Move to a final status. With an owner, only while that owner holds the lease."""
        conditions = [model.id == work_id, model.status.in_(WorkStatus.unfinished())]
        if owner is not None:
            conditions.append(model.lease_owner == owner)
        result = self._session.execute(
            update(model)
            .where(*conditions)
            .values(lease_owner=None, lease_expires_at=None, finished_at=now, updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result) == 1

    def document(self, document_id: str) -> Document | None:
        return self._session.get(Document, document_id)

    def job(self, job_id: str) -> ChunkJob | None:
        return self._session.get(ChunkJob, job_id)

    def blob(self, document_id: str) -> bytes | None:
        return self._session.scalar(select(DocumentBlob.data).where(DocumentBlob.document_id == document_id))

    def drop_blob(self, document_id: str) -> None:
        self._session.execute(delete(DocumentBlob).where(DocumentBlob.document_id == document_id))

    def embedded_batches(self, source_id: str) -> dict[int, EmbeddedBatch]:
        """The batches of this work embedded so far (by the position of their first chunk)."""
        query = select(EmbeddedBatch).where(EmbeddedBatch.source_id == source_id)
        return {batch.start: batch for batch in self._session.scalars(query)}

    def keep_embedded_batch(self, batch: EmbeddedBatch) -> None:
        self._session.merge(batch)

    def drop_embedded_batches(self, source_id: str) -> None:
        self._session.execute(delete(EmbeddedBatch).where(EmbeddedBatch.source_id == source_id))

    def indexed_predecessors(self, document: Document) -> list[Document]:
        """Indexed uploads of the same file name into the same collection that `document` replaces."""
        query = select(Document).where(
            Document.collection_id == document.collection_id,
            Document.filename == document.filename,
            Document.id != document.id,
            Document.created_at <= document.created_at,
            Document.status == WorkStatus.INDEXED,
        )
        return list(self._session.scalars(query))

    def delete_documents(self, document_ids: list[str]) -> None:
        if document_ids:
            self._session.execute(delete(Document).where(Document.id.in_(document_ids)))

    def next_queued_job(self, collection_id: str) -> str | None:
        query = (
            select(ChunkJob.id)
            .where(ChunkJob.collection_id == collection_id, ChunkJob.status == WorkStatus.QUEUED)
            .order_by(ChunkJob.created_at)
            .limit(1)
        )
        return self._session.scalar(query)

    def orphaned(self, model: type[Leased], now: datetime) -> str | None:
        """Work a worker held in progress until its lease expired (the worker died): the oldest."""
        query = (
            select(model.id)
            .where(
                model.status.in_(WorkStatus.in_progress()),
                model.lease_owner.is_not(None),
                model.lease_expires_at < now,
            )
            .order_by(model.lease_expires_at)
            .limit(1)
        )
        return self._session.scalar(query)

    def stale(self, model: type[Leased], now: datetime, queued_grace: timedelta) -> list[str]:
        """Unfinished work nobody is working on: an expired lease, or queued for too long without one."""
        query = select(model.id).where(
            model.status.in_(WorkStatus.unfinished()),
            or_(
                model.lease_expires_at < now,
                and_(model.lease_owner.is_(None), model.updated_at < now - queued_grace),
            ),
        )
        return list(self._session.scalars(query))


def _rowcount(result: Result[Any]) -> int:
    # UPDATE statements return a CursorResult; its rowcount is what a conditional update hinges on.
    return cast(CursorResult[Any], result).rowcount
