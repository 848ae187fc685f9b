"""All SQL of the vector-store API, scoped to one knowledge base at construction: its staged files,
and the keyset-paged, status-counted view of its documents that OpenAI's listings need."""

from __future__ import annotations

from collections.abc import Collection as Many

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb_service.knowledge.models import Document, WorkStatus
from kb_service.openai_vector_stores.models import StagedFile


class VectorStoreRepository:
    def __init__(self, session: Session, kb_id: str) -> None:
        self._session = session
        self.kb_id = kb_id

    # --- staged files ---------------------------------------------------------------------------

    def add_file(self, file: StagedFile) -> StagedFile:
        self._session.add(file)
        self._session.flush()
        return file

    def file(self, file_id: str) -> StagedFile | None:
        query = select(StagedFile).where(StagedFile.kb_id == self.kb_id, StagedFile.id == file_id)
        return self._session.scalars(query).one_or_none()

    def file_ids_of(self, document_ids: Many[str]) -> dict[str, str]:
        """document id -> the id of the file that became it (the newest, should several)."""
        if not document_ids:
            return {}
        query = (
            select(StagedFile.document_id, StagedFile.id)
            .where(StagedFile.kb_id == self.kb_id, StagedFile.document_id.in_(list(document_ids)))
            .order_by(StagedFile.id)
        )
        return {document_id: file_id for document_id, file_id in self._session.execute(query) if document_id}

    def detach(self, document_id: str) -> None:
        query = select(StagedFile).where(
            StagedFile.kb_id == self.kb_id, StagedFile.document_id == document_id
        )
        for file in self._session.scalars(query):
            file.document_id = None

    # --- documents, as files ----------------------------------------------------------------------

    def status_counts(self) -> dict[str, tuple[int, int]]:
        """status -> (documents, bytes)."""
        query = (
            select(Document.status, func.count(Document.id), func.coalesce(func.sum(Document.size_bytes), 0))
            .where(Document.kb_id == self.kb_id)
            .group_by(Document.status)
        )
        return {status: (int(count), int(size)) for status, count, size in self._session.execute(query)}

    def documents_page(
        self, *, statuses: Many[WorkStatus] | None, after: str | None, newest_first: bool, limit: int
    ) -> list[Document]:
        """Up to `limit` documents after the cursor id `after` (ids sort by creation time)."""
        query = select(Document).where(Document.kb_id == self.kb_id)
        if statuses is not None:
            query = query.where(Document.status.in_([str(s) for s in statuses]))
        if after is not None:
            query = query.where(Document.id < after if newest_first else Document.id > after)
        order = Document.id.desc() if newest_first else Document.id
        return list(self._session.scalars(query.order_by(order).limit(limit)))

    def filenames(self, document_ids: Many[str]) -> dict[str, str]:
        if not document_ids:
            return {}
        query = select(Document.id, Document.filename).where(
            Document.kb_id == self.kb_id, Document.id.in_(list(document_ids))
        )
        return {document_id: filename for document_id, filename in self._session.execute(query)}
