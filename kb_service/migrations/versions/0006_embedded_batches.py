"""embedded_batches: vectors of embedding batches of unfinished work, so a paused document resumes
from the batches already embedded (nothing embedded or metered twice)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 06:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kb_service.db import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "embedded_batches",
        sa.Column("source_id", sa.String(length=32), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("vectors", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source_id", "start", name=op.f("pk_embedded_batches")),
    )


def downgrade() -> None:
    op.drop_table("embedded_batches")
