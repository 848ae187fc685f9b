"""The "Evaluations" tab of a knowledge base: its stored evaluation runs, newest first with their
headline figures per mode, and a run's page with a table per mode and its worst questions.

It reads through `EvaluationService` (`Services.evaluation`), the same service as
`GET /v1/knowledge-bases/{kb}/evaluations`, and shows the runs as the API presents them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.evaluation.presenters import evaluation_out, evaluation_summary_out
from kb_service.evaluation.service import EvaluationService
from kb_service.portal.content import knowledge_base
from kb_service.portal.formatting import moment
from kb_service.portal.layout import ResourceFrameDep
from kb_service.portal.web import PREFIX, Page, PageDep
from kb_service.services import Services
from schemas.evaluation import EvaluationOut, EvaluationSummaryOut, RankedRelevant

router = APIRouter(route_class=UnitOfWorkRoute, prefix=PREFIX, include_in_schema=False)
PER_PAGE = 25
MAX_PAGE = 10**6
WORST_SHOWN = 10
# The figures shown per mode, in this order; each is stored keyed with the run's cutoff ("ndcg@10").
FIGURES = (("ndcg", "nDCG"), ("recall", "Recall"), ("mrr", "MRR"), ("hit_rate", "Hit rate"))


@dataclass(frozen=True, slots=True)
class WorstQuestion:
    """A question of a run in one mode, with its score and where its relevant items ranked."""

    query: str
    score: float
    relevant: list[RankedRelevant]


def _service(services: Services, page: Page, frame_id: str) -> EvaluationService:
    kb = knowledge_base(services, page.actor, frame_id)  # a 404 for anything but a visible KB
    return services.evaluation(kb, page.actor.email)


def _page_number(raw: str | None) -> int:
    return int(raw) if raw is not None and raw.isdigit() and 0 < int(raw) <= MAX_PAGE else 1


def headline(run: EvaluationSummaryOut) -> list[dict[str, Any]]:
    """Per mode, the figures the tables show: the run's metrics at its k and the latency p50."""
    rows = []
    for mode in run.modes:
        summary = run.summary.get(mode)
        if summary is None:  # a failed run may not have reached this mode
            continue
        figures = [summary.metrics.get(f"{name}@{run.k}") for name, _ in FIGURES]
        rows.append({"mode": mode, "figures": figures, "p50": summary.latency_ms.get("p50")})
    return rows


def worst_questions(run: EvaluationOut, mode: str, limit: int = WORST_SHOWN) -> list[WorstQuestion]:
    """The mode's questions with the lowest nDCG@k first (ties keep the questions' order)."""
    scored = [
        WorstQuestion(q.query, q.modes[mode].metrics.get(f"ndcg@{run.k}", 0.0), q.modes[mode].relevant)
        for q in run.questions
        if mode in q.modes
    ]
    return sorted(scored, key=lambda q: q.score)[:limit]


@router.get("/resources/{resource_id}/evaluations")
def evaluations_tab(page: PageDep, frame: ResourceFrameDep, services: ServicesDep) -> HTMLResponse:
    service = _service(services, page, frame.resource.id)
    number = _page_number(page.request.query_params.get("page"))
    runs, total = service.list(offset=(number - 1) * PER_PAGE, limit=PER_PAGE)
    pages = max(1, math.ceil(total / PER_PAGE))
    rows = []
    for run in runs:
        out = evaluation_summary_out(run)
        rows.append({"run": out, "at_text": moment(out.created_at), "modes": headline(out)})
    context: dict[str, Any] = {
        **frame.context("evaluations"),
        "runs": rows,
        "figures": [label for _, label in FIGURES],
        "pager": {
            "page": number,
            "pages": pages,
            "total": total,
            "newer": number - 1 if number > 1 else None,
            "older": number + 1 if number < pages else None,
        },
    }
    return page.render("evaluations.html", context)


@router.get("/resources/{resource_id}/evaluations/{evaluation_id}")
def evaluation_page(
    page: PageDep, frame: ResourceFrameDep, services: ServicesDep, evaluation_id: str
) -> HTMLResponse:
    run = evaluation_out(_service(services, page, frame.resource.id).get(evaluation_id))
    modes = headline(run)
    context: dict[str, Any] = {
        **frame.context("evaluations"),
        "run": run,
        "at_text": moment(run.created_at),
        "modes": modes,
        "figures": [label for _, label in FIGURES],
        "worst": {row["mode"]: worst_questions(run, row["mode"]) for row in modes},
    }
    return page.render("evaluation.html", context)
