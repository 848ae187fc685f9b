"""Stored evaluations as they read on the wire."""

from __future__ import annotations

from kb_service.evaluation.models import Evaluation
from schemas.evaluation import EvaluationOut, EvaluationSummaryOut, ModeSummary, QuestionResult


def evaluation_summary_out(evaluation: Evaluation) -> EvaluationSummaryOut:
    return EvaluationSummaryOut(
        id=evaluation.id,
        knowledge_base_id=evaluation.kb_id,
        name=evaluation.name,
        status="failed" if evaluation.status == "failed" else "completed",
        error=evaluation.error,
        created_at=evaluation.created_at,
        k=evaluation.k,
        modes=list(evaluation.modes),
        question_count=evaluation.question_count,
        input_tokens=evaluation.input_tokens,
        summary={mode: ModeSummary.model_validate(s) for mode, s in evaluation.summary.items()},
    )


def evaluation_out(evaluation: Evaluation) -> EvaluationOut:
    summary = evaluation_summary_out(evaluation)
    return EvaluationOut(
        **summary.model_dump(),
        collections=evaluation.request.get("collections"),
        filter=evaluation.request.get("filter"),
        questions=[QuestionResult.model_validate(q) for q in evaluation.results],
    )
