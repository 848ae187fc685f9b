"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from kb_service.activity.router import router as activity_router
from kb_service.capacity.router import router as capacity_router
from kb_service.companies.router import router as companies_router
from kb_service.config import Settings
from kb_service.consumption.router import router as consumption_router
from kb_service.container import Container
from kb_service.errors import InvalidInput, KBError
from kb_service.keys.router import router as keys_router
from kb_service.knowledge.router import router as knowledge_router
from kb_service.migrations import upgrade
from kb_service.observability import configure_logging
from kb_service.ops.metrics import install_metrics
from kb_service.ops.router import router as ops_router
from kb_service.portal.router import install_portal
from kb_service.portal.web import error_page
from kb_service.provisioning.router import router as provisioning_router
from kb_service.retrieval.router import router as retrieval_router
from kb_service.teams.router import router as teams_router
from kb_service.users.router import router as users_router

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    """Build the app. Pass a ready `container` (tests) or let the lifespan build one from settings."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = container is None
        active = container or Container.build(settings or Settings())
        if owned:
            configure_logging(active.settings)
            upgrade(active.engine)
        app.state.container = active
        log.info("api.started", database=active.engine.url.get_backend_name())
        yield
        if owned:
            active.close()

    app = FastAPI(
        title="kb-service",
        version="0.1.0",
        summary="Knowledge bases with a vector store: upload, chunk, embed, index and filtered search.",
        lifespan=lifespan,
    )
    if container is not None:
        app.state.container = container
    app.include_router(ops_router)
    install_metrics(app, lambda: app.state.container.sessions)
    app.include_router(knowledge_router)
    app.include_router(retrieval_router)
    # Control plane: users with personal access tokens.
    for control_router in (
        users_router,
        companies_router,
        provisioning_router,
        capacity_router,
        consumption_router,
        keys_router,
        activity_router,
        teams_router,
    ):
        app.include_router(control_router)
    # The web portal: server-rendered pages over the same services, under /portal.
    install_portal(app)
    app.add_exception_handler(KBError, _kb_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    return app


async def _kb_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KBError)
    if request.url.path.startswith("/portal/"):
        return error_page(request, exc)
    body = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
    return JSONResponse(body, status_code=exc.status_code)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"field": ".".join(str(part) for part in error["loc"]), "problem": error["msg"]}
        for error in exc.errors()
    ]
    first = problems[0] if problems else {"field": "request", "problem": "invalid"}
    message = f"Invalid request: {first['field']}: {first['problem']}."
    if request.url.path.startswith("/portal/"):
        return error_page(request, InvalidInput(message))
    body = {"error": {"code": "invalid_input", "message": message, "details": {"errors": problems}}}
    return JSONResponse(body, status_code=422)
