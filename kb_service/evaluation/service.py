"""Evaluation built in: labelled questions searched through the same `RetrievalService.search` the
search API answers with (so query embeddings are metered like any search, and the figures are what
one computes from the search API's own answers), scored per mode and stored for comparison."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from kb_service.clock import Clock
from kb_service.errors import CapacityExhausted, NotFound, UpstreamRejected, UpstreamUnavailable
from kb_service.evaluation import metrics
from kb_service.evaluation.models import Evaluation
from kb_service.evaluation.repository import EvaluationRepository
from kb_service.resources.models import Resource
from kb_service.retrieval.filters import parse_filter
from kb_service.retrieval.service import RetrievalService
from schemas.evaluation import EvaluationCreate, EvaluationQuestion
from schemas.retrieval import SearchMode, SearchRequest


class EvaluationService:
    def __init__(
        self,
        kb: Resource,
        repo: EvaluationRepository,
        retrieval: RetrievalService,
        clock: Clock,
        *,
        actor: str,
    ) -> None:
        self._kb = kb
        self._repo = repo
        self._retrieval = retrieval
        self._clock = clock
        self._actor = actor

    def run(self, request: EvaluationCreate) -> Evaluation:
        """Search every question in every mode and store the run. A search that fails part-way (out
        of capacity, the provider down) ends the run as `failed` with what was answered, so the
        query embeddings already metered are kept; invalid requests are refused before any search."""
        self._check(request)
        results: list[dict[str, Any]] = [{"query": q.query, "modes": {}} for q in request.questions]
        summary: dict[str, Any] = {}
        tokens, status, error = 0, "completed", None
        try:
            for mode in request.modes:
                answers = []
                for question, result in zip(request.questions, results, strict=True):
                    answer, used = self._ask(question, mode, request)
                    result["modes"][mode] = answer
                    answers.append((answer, used))
                    tokens += used
                summary[mode] = _summarize([a for a, _ in answers], sum(u for _, u in answers))
        except (CapacityExhausted, UpstreamUnavailable, UpstreamRejected) as exc:
            status, error = "failed", exc.message
        return self._repo.add(
            Evaluation(
                kb_id=self._kb.id,
                created_at=self._clock.now(),
                actor=self._actor,
                name=request.name,
                status=status,
                error=error,
                k=request.k,
                modes=list(request.modes),
                question_count=len(request.questions),
                request=request.model_dump(mode="json"),
                summary=summary,
                results=results,
                input_tokens=tokens,
            )
        )

    def get(self, evaluation_id: str) -> Evaluation:
        evaluation = self._repo.get(evaluation_id)
        if evaluation is None:
            raise NotFound(f"Evaluation {evaluation_id} not found in this knowledge base.")
        return evaluation

    def list(self, *, offset: int, limit: int) -> tuple[list[Evaluation], int]:
        return self._repo.list(offset=offset, limit=limit)

    def _check(self, request: EvaluationCreate) -> None:
        # A bad filter is a 422 before anything is searched (and nothing is stored).
        if request.filter is not None:
            parse_filter(request.filter)

    def _ask(
        self, question: EvaluationQuestion, mode: SearchMode, request: EvaluationCreate
    ) -> tuple[dict[str, Any], int]:
        started = time.perf_counter()
        outcome = self._retrieval.search(_search_request(question.query, mode, request))
        latency_ms = (time.perf_counter() - started) * 1000
        relevant = [metrics.Relevant(*item.key, grade=item.grade) for item in question.relevant]
        hits = [
            metrics.HitKeys(
                hit.chunk.chunk_id, hit.chunk.document_id, hit.chunk.human_readable_id, hit.chunk.mx_object_id
            )
            for hit in outcome.hits
        ]
        judged = metrics.judge(hits, relevant)
        answer = {
            "metrics": metrics.scores(judged, request.k),
            "relevant": [
                {"field": item.field, "value": item.value, "grade": item.grade, "rank": j.rank}
                for item, j in zip(relevant, judged, strict=True)
            ],
            "latency_ms": round(latency_ms, 3),
        }
        return answer, outcome.input_tokens


def _search_request(query: str, mode: SearchMode, request: EvaluationCreate) -> SearchRequest:
    """Exactly the search a client would send for this question: k results, the run's scope."""
    return SearchRequest(
        query=query,
        mode=mode,
        max_results=request.k,
        collections=request.collections,
        filter=request.filter,
        rerank=request.rerank,
    )


def _summarize(answers: Sequence[dict[str, Any]], input_tokens: int) -> dict[str, Any]:
    latencies = [float(a["latency_ms"]) for a in answers]
    return {
        "metrics": metrics.mean_scores([a["metrics"] for a in answers]),
        "latency_ms": {
            "p50": round(metrics.percentile(latencies, 0.5), 3),
            "p95": round(metrics.percentile(latencies, 0.95), 3),
            "mean": round(sum(latencies) / len(latencies), 3) if latencies else 0.0,
        },
        "input_tokens": input_tokens,
    }
