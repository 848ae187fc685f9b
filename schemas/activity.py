from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from schemas._base import Schema


class ActivityOut(Schema):
    occurred_at: datetime
    actor: str = Field(description="A user's email, or `key:<key id>` for an API key.")
    action: str = Field(description="e.g. key.created, member.added, document.uploaded.")
    detail: dict[str, Any] = Field(description="Ids and names only; never content or secrets.")
