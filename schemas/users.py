from __future__ import annotations

from datetime import datetime

from pydantic import Field

from schemas._base import Schema


class MeOut(Schema):
    id: str
    email: str
    name: str
    company_id: str
    company_name: str
    is_admin: bool


class TokenCreate(Schema):
    description: str = Field(default="", max_length=500)


class TokenOut(Schema):
    token_id: str
    description: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    secret: str = Field(description="The full token. Shown once; only a hash is stored.")
