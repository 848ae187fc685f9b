from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


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
