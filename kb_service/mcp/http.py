"""The MCP server over streamable HTTP at `/mcp`, in the API's own app.

`McpEndpoint` is a plain ASGI app on the route `/mcp`. Every HTTP request is authenticated first, in
one short unit of work, with the KB key of its `Authorization: Bearer` header — exactly as the REST
API authenticates (`KeyService.authenticate`): a missing, malformed, wrong or revoked key, or a key of
a resource that is not a knowledge base, is a 401 with our JSON error body before the MCP layer sees
anything. The request then goes to the SDK's `StreamableHTTPSessionManager`, and each tool call
authenticates again from the same header (tools.py), so a key revoked mid-session stops working at
its next call.

The manager runs stateless with JSON responses: a request carries everything (the key, the
message), so any replica of the API behind a load balancer can answer it and nothing is held in
memory between requests. DNS-rebinding protection (a browser attack on a local server) is left off:
a request without the bearer key gets nothing, and a browser page cannot add one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from kb_service.clock import Clock, SystemClock
from kb_service.container import Container
from kb_service.errors import KBError, NotFound, Unauthorized
from kb_service.mcp.tools import Caller, bearer_key, build_server
from kb_service.services import unit_of_work

PATH = "/mcp"


class McpEndpoint:
    """The ASGI app of `/mcp`; `running()` belongs in the app's lifespan (the SDK's task group)."""

    def __init__(self) -> None:
        self._app_state: object | None = None
        self.server: MCPServer = build_server(self._runtime, _caller_of)
        self._manager: StreamableHTTPSessionManager | None = None

    def route(self) -> Route:
        """The app's route to this endpoint (not in the OpenAPI document: MCP is not REST). POST only:
        a stateless server has no server-initiated stream (GET) and no session to end (DELETE), and
        the transport's rule for that is a 405."""
        return Route(PATH, self, methods=["POST"], include_in_schema=False)

    def _runtime(self) -> tuple[Container, Clock]:
        state = self._app_state
        container: Container = getattr(state, "container")  # noqa: B009 - set by the app's lifespan
        clock: Clock | None = getattr(state, "clock", None)
        return container, clock or _SYSTEM_CLOCK

    @asynccontextmanager
    async def running(self, app_state: object) -> AsyncIterator[None]:
        """Serve `/mcp` while the block runs. A manager runs once, so each app start makes its own."""
        self._app_state = app_state
        manager = StreamableHTTPSessionManager(
            app=self.server._lowlevel_server,  # what MCPServer.streamable_http_app passes
            json_response=True,
            stateless=True,
        )
        async with manager.run():
            self._manager = manager
            try:
                yield
            finally:
                self._manager = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # pragma: no cover - the route is HTTP only
            return
        manager = self._manager
        if manager is None:
            unavailable = {
                "error": {
                    "code": "upstream_unavailable",
                    "message": "The MCP server is starting.",
                    "details": {},
                }
            }
            await JSONResponse(unavailable, status_code=503)(scope, receive, send)
            return
        try:
            await anyio.to_thread.run_sync(self._authenticate, Headers(scope=scope))
        except KBError as exc:
            body = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
            headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
            await JSONResponse(body, status_code=exc.status_code, headers=headers)(scope, receive, send)
            return
        await manager.handle_request(scope, receive, send)

    def _authenticate(self, headers: Headers) -> None:
        container, clock = self._runtime()
        with unit_of_work(container, clock) as services:
            principal = services.keys.authenticate(bearer_key(headers))
            try:
                services.resources.knowledge_base_of(principal, principal.resource_id)
            except NotFound:
                raise Unauthorized(
                    "The MCP server takes a knowledge-base key; this key belongs to another kind of resource."
                ) from None


_SYSTEM_CLOCK = SystemClock()


def _caller_of(ctx: Context) -> Caller:
    """The caller of one tool call: the bearer key of the HTTP request that carried it."""
    return Caller(key=bearer_key(ctx.headers))
