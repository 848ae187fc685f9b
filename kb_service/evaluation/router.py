"""Evaluation routes: run labelled questions against the KB's search, list and fetch stored runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from kb_service.auth.deps import KnowledgeBaseDep, PrincipalDep
from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.errors import Gone, NotFound, documented
from kb_service.evaluation.presenters import evaluation_out, evaluation_summary_out
from kb_service.evaluation.service import EvaluationService
from schemas._base import Offset, Page
from schemas.evaluation import EvaluationCreate, EvaluationOut, EvaluationSummaryOut

router = APIRouter(
    route_class=UnitOfWorkRoute, prefix="/v1/knowledge-bases/{kb_id}/evaluations", tags=["evaluation"]
)


def get_evaluation(kb: KnowledgeBaseDep, principal: PrincipalDep, services: ServicesDep) -> EvaluationService:
    return services.evaluation(kb, principal.activity_actor)


EvaluationServiceDep = Annotated[EvaluationService, Depends(get_evaluation)]


@router.post("", status_code=status.HTTP_201_CREATED, responses=documented(Gone, NotFound))
def run_evaluation(service: EvaluationServiceDep, body: EvaluationCreate) -> EvaluationOut:
    """Search every question in every mode (k results each, as the search API answers), score the
    answers (nDCG, recall, MRR, hit rate at k) and store the run. A run whose searches failed
    part-way (capacity, provider) is stored with `status: failed`."""
    return evaluation_out(service.run(body))


@router.get("", responses=documented(Gone, NotFound))
def list_evaluations(
    service: EvaluationServiceDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[EvaluationSummaryOut]:
    """Stored runs, newest first, with their headline figures per mode."""
    items, total = service.list(offset=offset, limit=limit)
    return Page(items=[evaluation_summary_out(e) for e in items], total=total, offset=offset, limit=limit)


@router.get("/{evaluation_id}", responses=documented(Gone, NotFound))
def get_evaluation_run(service: EvaluationServiceDep, evaluation_id: str) -> EvaluationOut:
    return evaluation_out(service.get(evaluation_id))
