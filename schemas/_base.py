from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

# Paging bounds of every listing route. An offset past the data is an empty page; one past
# MAX_OFFSET is a 422 — unbounded, it overflowed the 64-bit OFFSET of SQLite and PostgreSQL.
MAX_OFFSET = 1_000_000_000
MAX_LIMIT = 1000
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET, description=f"Items to skip, at most {MAX_OFFSET:,}.")]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description=f"Items per page, 1-{MAX_LIMIT:,}.")]


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", from_attributes=True)


class Page(Schema, Generic[T]):
    items: list[T]
    total: int = Field(description="How many items match, over all pages.")
    offset: int
    limit: int


class ErrorBody(Schema):
    code: str = Field(description="Stable machine-readable error code.")
    message: str = Field(description="What went wrong, for humans.")
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(Schema):
    error: ErrorBody
