"""Knowledge-base objects in OpenAI's shapes (timestamps in Unix seconds, statuses mapped)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from kb_service.knowledge.models import Document, WorkStatus
from kb_service.openai_vector_stores.attributes import attributes_of
from kb_service.openai_vector_stores.models import StagedFile
from kb_service.openai_vector_stores.service import STATUSES_OF, SearchHitView, StoreFile, StoreSummary
from schemas.openai_vector_stores import (
    FileCounts,
    FileOut,
    FileStatusFilter,
    LastError,
    SearchResultOut,
    TextContent,
    VectorStoreFileOut,
    VectorStoreOut,
    VectorStoreSearchPage,
)


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def vector_store_out(summary: StoreSummary) -> VectorStoreOut:
    def count(kind: FileStatusFilter) -> int:
        return sum(summary.counts.get(str(s), (0, 0))[0] for s in STATUSES_OF[kind])

    in_progress = count("in_progress")
    usage = sum(size for status, (_, size) in summary.counts.items() if status != WorkStatus.FAILED)
    kb = summary.kb
    return VectorStoreOut(
        id=kb.id,
        created_at=epoch(kb.created_at),
        name=kb.display_name,
        usage_bytes=usage,
        file_counts=FileCounts(
            in_progress=in_progress,
            completed=count("completed"),
            failed=count("failed"),
            cancelled=0,
            total=sum(n for n, _ in summary.counts.values()),
        ),
        status="in_progress" if in_progress else "completed",
    )


def file_status(document: Document) -> Literal["in_progress", "completed", "failed"]:
    if document.status == WorkStatus.INDEXED:
        return "completed"
    if document.status == WorkStatus.FAILED:
        return "failed"
    return "in_progress"


def vector_store_file_out(file: StoreFile) -> VectorStoreFileOut:
    document = file.document
    status = file_status(document)
    last_error = None
    if status == "failed":
        # Failed before it was parsed: the file itself could not be read (encrypted, damaged).
        code = "invalid_file" if document.parsed_at is None else "server_error"
        last_error = LastError(code=code, message=document.error or "The file could not be indexed.")
    return VectorStoreFileOut(
        id=file.id,
        created_at=epoch(document.created_at),
        usage_bytes=document.size_bytes,
        vector_store_id=document.kb_id,
        status=status,
        last_error=last_error,
        attributes=attributes_of(document.collection.name, document.doc_metadata),
    )


def file_out(staged: StagedFile) -> FileOut:
    return FileOut(
        id=staged.id,
        bytes=staged.size_bytes,
        created_at=epoch(staged.created_at),
        filename=staged.filename,
        purpose="assistants",
    )


def search_page(queries: list[str], hits: list[SearchHitView]) -> VectorStoreSearchPage:
    return VectorStoreSearchPage(
        search_query=queries,
        data=[
            SearchResultOut(
                file_id=view.file_id,
                filename=view.filename,
                score=round(view.hit.score, 6),
                attributes=attributes_of(view.hit.chunk.collection, view.hit.chunk.metadata),
                content=[TextContent(text=view.hit.chunk.text)],
            )
            for view in hits
        ],
    )
