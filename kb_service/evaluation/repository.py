"""All SQL over stored evaluations, scoped to one knowledge base at construction."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from kb_service.evaluation.models import Evaluation


class EvaluationRepository:
    def __init__(self, session: Session, kb_id: str) -> None:
        self._session = session
        self.kb_id = kb_id

    def add(self, evaluation: Evaluation) -> Evaluation:
        self._session.add(evaluation)
        self._session.flush()
        return evaluation

    def get(self, evaluation_id: str) -> Evaluation | None:
        query = select(Evaluation).where(Evaluation.kb_id == self.kb_id, Evaluation.id == evaluation_id)
        return self._session.scalars(query).one_or_none()

    def list(self, *, offset: int, limit: int) -> tuple[list[Evaluation], int]:
        """Newest first, without the per-question results (the list shows headline figures)."""
        condition = Evaluation.kb_id == self.kb_id
        total = self._session.scalar(select(func.count(Evaluation.id)).where(condition)) or 0
        query = (
            select(Evaluation)
            .where(condition)
            .options(defer(Evaluation.results), defer(Evaluation.request))
            .order_by(Evaluation.created_at.desc(), Evaluation.id)
            .offset(offset)
            .limit(limit)
        )
        return list(self._session.scalars(query)), total
