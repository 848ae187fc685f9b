from __future__ import annotations

from datetime import datetime

from pydantic import Field

from schemas._base import Schema


class KeyOut(Schema):
    key_id: str
    resource_id: str
    description: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    paired_with_key_id: str | None = Field(
        description="Set on an embeddings key that was created together with a knowledge-base key."
    )


class KeyCreated(KeyOut):
    secret: str = Field(description="The full key. Shown once; only a hash is stored.")
    paired_key: KeyCreated | None = None


class KeyCreate(Schema):
    description: str = Field(default="", max_length=500)
