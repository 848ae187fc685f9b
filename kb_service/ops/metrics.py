"""Prometheus metrics at /metrics.

Request latency is measured in the API process. Everything the workers do is read from the state
database when scraped — documents by status, chunks indexed, embedding calls and tokens, queue depth —
so the figures are exact across any number of worker processes and survive restarts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from fastapi import APIRouter, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kb_service.db import session_scope
from kb_service.deps import UnitOfWorkRoute
from kb_service.knowledge.models import ChunkJob, Document, WorkStatus
from kb_service.metering.models import UsageEvent


class StateCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterator[Metric]:
        documents = GaugeMetricFamily("kb_documents", "Documents by status.", labels=["status"])
        jobs = GaugeMetricFamily("kb_chunk_jobs", "Chunk jobs by status.", labels=["status"])
        chunks = GaugeMetricFamily(
            "kb_chunks_indexed", "Chunks of indexed documents and jobs.", labels=["source"]
        )
        queue = GaugeMetricFamily("kb_queue_depth", "Work accepted and not yet started.", labels=["kind"])
        calls = CounterMetricFamily(
            "kb_embedding_calls", "Billed embedding calls.", labels=["model", "source"]
        )
        tokens = CounterMetricFamily(
            "kb_embedding_input_tokens", "Metered input tokens.", labels=["model", "source"]
        )
        with session_scope(self._sessions) as session:
            for model, family in ((Document, documents), (ChunkJob, jobs)):
                counts = dict(
                    session.execute(select(model.status, func.count()).group_by(model.status)).all()
                )
                for status in WorkStatus:
                    family.add_metric([status.value], counts.get(status.value, 0))
                queue.add_metric([model.__tablename__], counts.get(WorkStatus.QUEUED.value, 0))
                indexed = session.scalar(
                    select(func.coalesce(func.sum(model.chunk_count), 0)).where(
                        model.status == WorkStatus.INDEXED
                    )
                )
                chunks.add_metric([model.__tablename__], indexed or 0)
            usage = session.execute(
                select(
                    UsageEvent.model_id,
                    UsageEvent.source,
                    func.sum(UsageEvent.api_calls),
                    func.sum(UsageEvent.input_tokens),
                ).group_by(UsageEvent.model_id, UsageEvent.source)
            ).all()
        for model_id, source, api_calls, input_tokens in usage:
            calls.add_metric([model_id, source], api_calls or 0)
            tokens.add_metric([model_id, source], input_tokens or 0)
        yield from (documents, jobs, chunks, queue, calls, tokens)


def install_metrics(app: FastAPI, sessions_of: Callable[[], sessionmaker[Session]]) -> None:
    """Add the latency middleware and the /metrics route; `sessions_of` gives the state database
    (resolved lazily: the app's container may be built in the lifespan)."""
    registry = CollectorRegistry()
    latency = Histogram(
        "kb_http_request_duration_seconds",
        "HTTP request latency.",
        ["method", "route", "status"],
        registry=registry,
    )
    registry.register(_LazyStateCollector(sessions_of))

    app.add_middleware(_LatencyMiddleware, latency=latency)

    router = APIRouter(route_class=UnitOfWorkRoute, tags=["operations"])

    @router.get("/metrics", response_class=Response)
    def metrics() -> Response:
        """Prometheus exposition format."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)


class _LatencyMiddleware:
    """Plain ASGI (not BaseHTTPMiddleware, which costs a task and two streams per request): the
    time until the response is sent, labelled by the route template — not the path, whose ids
    would explode the label space."""

    def __init__(self, app: ASGIApp, *, latency: Histogram) -> None:
        self._app = app
        self._latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes every handler

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, sending)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            self._latency.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )


class _LazyStateCollector(Collector):
    def __init__(self, sessions_of: Callable[[], sessionmaker[Session]]) -> None:
        self._sessions_of = sessions_of

    def collect(self) -> Iterator[Metric]:
        yield from StateCollector(self._sessions_of()).collect()

    def describe(self) -> list[Metric]:
        return []  # no database at registration time
