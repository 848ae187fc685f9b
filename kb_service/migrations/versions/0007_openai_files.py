"""openai_files: files uploaded through the OpenAI-compatible `POST /v1/files`, kept until (and after)
they are attached to a knowledge base as documents

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kb_service.db import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "openai_files",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kb_id", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=500), nullable=False),
        sa.Column("content_type", sa.String(length=200), nullable=True),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("document_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["kb_id"], ["resources.id"], name=op.f("fk_openai_files_kb_id_resources"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_openai_files_document_id_documents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_openai_files")),
    )
    op.create_index(op.f("ix_openai_files_kb_id"), "openai_files", ["kb_id"])
    op.create_index(op.f("ix_openai_files_document_id"), "openai_files", ["document_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_openai_files_document_id"), table_name="openai_files")
    op.drop_index(op.f("ix_openai_files_kb_id"), table_name="openai_files")
    op.drop_table("openai_files")
