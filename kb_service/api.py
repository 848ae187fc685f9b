"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from kb_service.activity.router import router as activity_router
from kb_service.capacity.router import router as capacity_router
from kb_service.companies.router import router as companies_router
from kb_service.config import Settings
from kb_service.consumption.router import router as consumption_router
from kb_service.container import Container
from kb_service.errors import InvalidInput, KBError, MethodNotAllowed, NotFound
from kb_service.evaluation.router import router as evaluation_router
from kb_service.gateway.router import router as gateway_router
from kb_service.keys.router import router as keys_router
from kb_service.knowledge.router import router as knowledge_router
from kb_service.mcp.http import McpEndpoint
from kb_service.migrations import upgrade
from kb_service.observability import configure_logging
from kb_service.openai_vector_stores.router import router as openai_vector_stores_router
from kb_service.ops.metrics import install_metrics
from kb_service.ops.router import router as ops_router
from kb_service.portal.router import install_portal
from kb_service.portal.web import error_page
from kb_service.resources.router import router as resources_router
from kb_service.retrieval.router import router as retrieval_router
from kb_service.teams.router import router as teams_router
from kb_service.users.router import router as users_router

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    """Build the app. Pass a ready `container` (tests) or let the lifespan build one from settings."""
    mcp = McpEndpoint()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = container is None
        active = container or Container.build(settings or Settings())
        if owned:
            configure_logging(active.settings)
            upgrade(active.engine)
        app.state.container = active
        # Sync endpoints run on anyio's default thread limiter; the pool is sized to it.
        to_thread.current_default_thread_limiter().total_tokens = active.settings.request_threads
        log.info("api.started", database=active.engine.url.get_backend_name())
        async with mcp.running(app.state):
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
    app.include_router(gateway_router)
    app.include_router(evaluation_router)
    # The MCP server (streamable HTTP) over the same services: kb_service.mcp, docs/interfaces.md.
    app.router.routes.append(mcp.route())
    # OpenAI-compatible vector stores over the same services: kb_service.openai_vector_stores.
    app.include_router(openai_vector_stores_router)
    # Control plane: users with personal access tokens.
    for control_router in (
        users_router,
        companies_router,
        resources_router,
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
    app.add_exception_handler(StarletteHTTPException, _http_error)
    return app


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


async def _http_error(request: Request, exc: Exception) -> Response:
    """The framework's own refusals (an unknown route, a wrong method, an unreadable body) in our error
    shape; a 405 names every method the path answers to, over all routes sharing that path."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        return await _kb_error(request, _unreadable_body(exc))
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    message = exc.detail if isinstance(exc.detail, str) else "The request was refused."
    if exc.status_code == 404 and message == "Not Found":
        message = f"No route {request.url.path}."
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}; use {headers['Allow']}."
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    if request.url.path.startswith("/portal/") and exc.status_code in (404, 405):
        kind = NotFound if exc.status_code == 404 else MethodNotAllowed
        return error_page(request, kind(message))
    body = {"error": {"code": code, "message": message, "details": {}}}
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def _unreadable_body(exc: StarletteHTTPException) -> InvalidInput:
    """The framework's only 400 is a body it could not read (not UTF-8, nested past the JSON parser's
    recursion, broken multipart): malformed input like a JSON syntax error, so the same documented
    422 (`documented()` lists 422 on every route; a 400 was on none)."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, RecursionError):
        problem = "is nested too deeply to parse"
    elif isinstance(cause, UnicodeDecodeError):
        problem = "is not UTF-8 (or UTF-16 / UTF-32) JSON"
    else:
        problem = f"could not be read: {str(exc.detail).rstrip('.')}"
    return InvalidInput(f"The request body {problem}.", details={"field": "body"})


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers to on this path (asked of the router, as a request would be)."""
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


async def _kb_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KBError)
    if request.url.path.startswith("/portal/"):
        return error_page(request, exc)
    body = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


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
