"""The MCP server over stdio, for a local MCP client (Claude Desktop, an IDE) that starts it as a
subprocess: `kb-service mcp --kb ID --key KEY`, or `python -m kb_service.mcp --kb ID --key KEY`.

It opens the deployment's state database and vector store from `Settings` (the same data folder as
`kb-service serve`), checks the key against that database before serving — exactly as the HTTP API
does, so a wrong or revoked key, or a key of another KB, stops it with our error on stderr — and then
authenticates the key again on every tool call, so a key revoked while a client is connected stops
working at its next call. Stdout carries only the protocol; logs go to stderr.
"""

from __future__ import annotations

import anyio
from mcp.server.mcpserver import Context

from kb_service.clock import Clock, SystemClock
from kb_service.config import Settings
from kb_service.container import Container
from kb_service.mcp.tools import Caller, build_server
from kb_service.migrations import upgrade
from kb_service.queue.outbox import RecordingDispatcher
from kb_service.services import unit_of_work


def run_stdio(settings: Settings, *, kb_id: str, key: str) -> None:
    """Serve the KB `kb_id` to the MCP client on stdin / stdout until it disconnects.

    Raises the KBError of a key that does not reach `kb_id` (Unauthorized, NotFound) before serving."""
    # The tools only read and search: no task is ever sent, so no broker is needed.
    container = Container.build(settings, dispatcher=RecordingDispatcher())
    clock = SystemClock()
    try:
        upgrade(container.engine)
        check_key(container, clock, kb_id=kb_id, key=key)
        caller = Caller(key=key, kb_id=kb_id)

        def runtime() -> tuple[Container, Clock]:
            return container, clock

        def caller_of(_ctx: Context) -> Caller:
            return caller

        anyio.run(build_server(runtime, caller_of).run_stdio_async)
    finally:
        container.close()


def check_key(container: Container, clock: Clock, *, kb_id: str, key: str) -> None:
    """Unauthorized unless `key` is a live key of the KB `kb_id`; NotFound for another KB's key."""
    with unit_of_work(container, clock) as services:
        principal = services.keys.authenticate(key)
        services.resources.knowledge_base_of(principal, kb_id)
