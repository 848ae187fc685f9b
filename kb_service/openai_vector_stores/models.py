"""Files uploaded with `POST /v1/files`: kept until attached to the vector store (and after, so the
same file id stays the handle of the document it became)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from kb_service.db import Base, UTCDateTime, new_id, utcnow

FILE_ID_PREFIX = "file-"


def new_file_id() -> str:
    return FILE_ID_PREFIX + new_id()


class StagedFile(Base):
    __tablename__ = "openai_files"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=new_file_id)
    # The knowledge base the uploading key reaches: the only vector store the file can go to.
    kb_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str | None] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    # The document the file became when attached; cleared when that document is deleted.
    document_id: Mapped[str | None] = mapped_column(
        ForeignKey("documents.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
