from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from schemas._base import Schema
from schemas.retrieval import FILTER_DESCRIPTION, SearchMode

RELEVANT_FIELDS = ("document_id", "human_readable_id", "mx_object_id")
MAX_QUESTIONS = 1000


class RelevantItem(Schema):
    """One item that answers the question, named by exactly one of the three ids."""

    document_id: str | None = Field(default=None, description="An uploaded document.")
    human_readable_id: str | None = Field(
        default=None, description="A pushed chunk's human_readable_id, or an uploaded document's file name."
    )
    mx_object_id: str | None = Field(default=None, description="An app object whose chunks were pushed.")
    grade: int = Field(
        default=1,
        strict=True,
        ge=0,
        le=100,
        description="Graded relevance (gain in nDCG); 0 = judged not relevant.",
    )

    @model_validator(mode="after")
    def _one_id(self) -> RelevantItem:
        named = [name for name in RELEVANT_FIELDS if getattr(self, name) is not None]
        if len(named) != 1:
            raise ValueError("name exactly one of document_id, human_readable_id, mx_object_id")
        return self

    @property
    def key(self) -> tuple[str, str]:
        field = next(name for name in RELEVANT_FIELDS if getattr(self, name) is not None)
        return field, str(getattr(self, field))


class EvaluationQuestion(Schema):
    query: str = Field(min_length=1, max_length=8000)
    relevant: list[RelevantItem] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _judged(self) -> EvaluationQuestion:
        keys = [item.key for item in self.relevant]
        if len(set(keys)) != len(keys):
            raise ValueError("a relevant item is listed twice")
        if not any(item.grade > 0 for item in self.relevant):
            raise ValueError("at least one relevant item needs a grade of 1 or more")
        return self


def _vector_only() -> list[SearchMode]:
    return ["vector"]


class EvaluationCreate(Schema):
    name: str | None = Field(default=None, max_length=200, description="A label to compare runs by.")
    questions: list[EvaluationQuestion] = Field(min_length=1, max_length=MAX_QUESTIONS)
    modes: list[SearchMode] = Field(
        default_factory=_vector_only, min_length=1, description="Search modes to evaluate."
    )
    k: int = Field(
        default=10, strict=True, ge=1, le=100, description="The cutoff: each search asks for k results."
    )
    collections: list[str] | None = Field(default=None, description="As in search.")
    rerank: bool = Field(default=False, description="Rerank every search, as in search.")
    filter: dict[str, Any] | None = Field(default=None, description=FILTER_DESCRIPTION)

    @model_validator(mode="after")
    def _distinct_modes(self) -> EvaluationCreate:
        if len(set(self.modes)) != len(self.modes):
            raise ValueError("a mode is listed twice")
        return self


class ModeSummary(Schema):
    metrics: dict[str, float] = Field(
        description='Means over the questions, keyed with the cutoff: "ndcg@10", "recall@10", '
        '"mrr@10", "hit_rate@10".'
    )
    latency_ms: dict[str, float] = Field(description='Search latency per question: "p50", "p95", "mean".')
    input_tokens: int = Field(description="Query embedding tokens metered for this mode.")


class RankedRelevant(Schema):
    field: Literal["document_id", "human_readable_id", "mx_object_id"]
    value: str
    grade: int
    rank: int | None = Field(description="1-based rank among the answer's distinct items; null if absent.")


class QuestionModeResult(Schema):
    metrics: dict[str, float]
    relevant: list[RankedRelevant]
    latency_ms: float


class QuestionResult(Schema):
    query: str
    modes: dict[str, QuestionModeResult]


class EvaluationSummaryOut(Schema):
    id: str
    knowledge_base_id: str
    name: str | None
    status: Literal["completed", "failed"]
    error: str | None
    created_at: datetime
    k: int
    modes: list[str]
    question_count: int
    input_tokens: int
    summary: dict[str, ModeSummary] = Field(description="Per mode, the headline figures.")


class EvaluationOut(EvaluationSummaryOut):
    collections: list[str] | None
    filter: dict[str, Any] | None
    questions: list[QuestionResult]
