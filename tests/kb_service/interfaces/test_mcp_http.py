"""The MCP server at `/mcp` (streamable HTTP) of the live app, driven by the official SDK's own
client: the handshake, the tools and their schemas, searches that answer what the REST search
answers (metered the same), refusals as tool errors in our error shape, and 401 for a bad key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError
from sqlalchemy import func, select

from kb_service.auth import bearer
from kb_service.clock import Clock, SystemClock
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.keys.service import KEY_PREFIX
from kb_service.mcp.tools import Caller, build_server
from kb_service.metering.models import UsageEvent
from kb_service.services import unit_of_work
from tests.factories.controlplane import ControlPlane
from tests.kb_service.interfaces.conftest import Live

SOLVED = {"key": "Status", "eq": "Solved"}


def _session(live: Live, key: str, body: Callable[[Client], Awaitable[None]]) -> None:
    async def main() -> None:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as http,
            Client(streamable_http_client(f"{live.url}/mcp", http_client=http)) as client,
        ):
            await body(client)

    anyio.run(main)


def _query_events(container: Container) -> int:
    with session_scope(container.sessions) as session:
        query = select(func.count(UsageEvent.id)).where(UsageEvent.source == "query")
        return session.scalar(query) or 0


def test_a_session_lists_the_tools_and_searches_with_a_filter(shared_live: Live) -> None:
    seen: dict[str, Any] = {}

    async def body(client: Client) -> None:
        listed = await client.list_tools()
        seen["tools"] = {tool.name: tool for tool in listed.tools}
        result = await client.call_tool("search", {"query": "paper jam", "filter": SOLVED, "max_results": 5})
        seen["search"] = result
        seen["collections"] = await client.call_tool("list_collections", {})

    _session(shared_live, shared_live.kb.key, body)

    tools = seen["tools"]
    assert set(tools) == {"search", "list_collections", "list_documents", "get_document", "get_chunks"}
    search_schema = tools["search"].input_schema
    assert search_schema["required"] == ["query"]
    assert {"collections", "metadata", "filter", "max_results", "min_similarity", "mode", "rerank"} <= set(
        search_schema["properties"]
    )
    assert search_schema["properties"]["mode"]["enum"] == ["vector", "keyword", "hybrid"]
    assert tools["search"].annotations.read_only_hint is True
    assert tools["search"].description

    result = seen["search"]
    assert result.is_error is False, result.content
    hits = result.structured_content["results"]
    assert [h["metadata"]["Status"] for h in hits] == ["Solved", "Solved"]
    # The same answer as the REST search, in the same order.
    rest = httpx.post(
        f"{shared_live.url}{shared_live.kb.url('/search')}",
        headers=shared_live.kb.headers,
        json={"query": "paper jam", "filter": SOLVED, "max_results": 5},
    )
    assert rest.status_code == 200, rest.text
    assert [h["chunk_id"] for h in hits] == [h["chunk_id"] for h in rest.json()["results"]]
    printer = next(h for h in hits if h["document_id"] == shared_live.document_ids["printer.txt"])
    assert printer["sourceUrl"] == "https://example.test/p"
    assert printer["collection"] == "Manuals" and "page" in printer  # None for a TXT file
    scanner = next(h for h in hits if h["document_id"] == shared_live.document_ids["scanner.txt"])
    assert scanner["knowledge"] == "Clean the glass first."
    assert result.structured_content["input_tokens"] > 0

    names = [c["name"] for c in seen["collections"].structured_content["collections"]]
    assert names == ["Manuals", "Tickets", "default"]


def test_searches_are_metered_like_the_rest_search(shared_live: Live) -> None:
    before = _query_events(shared_live.container)

    async def body(client: Client) -> None:
        vector = await client.call_tool("search", {"query": "toner"})
        keyword = await client.call_tool("search", {"query": "toner", "mode": "keyword"})
        assert not vector.is_error and not keyword.is_error

    _session(shared_live, shared_live.kb.key, body)
    # One embedded (metered) query; keyword search embeds nothing.
    assert _query_events(shared_live.container) == before + 1


def test_documents_and_chunks_are_read_page_by_page(shared_live: Live) -> None:
    seen: dict[str, Any] = {}
    printer = shared_live.document_ids["printer.txt"]

    async def body(client: Client) -> None:
        seen["document"] = await client.call_tool("get_document", {"document_id": printer})
        seen["chunks"] = await client.call_tool("get_chunks", {"document_id": printer, "limit": 1})
        seen["page2"] = await client.call_tool(
            "get_chunks", {"collection": "Manuals", "offset": 1, "limit": 1}
        )
        seen["documents"] = await client.call_tool("list_documents", {"collection": "Manuals"})
        seen["missing"] = await client.call_tool("get_document", {"document_id": "nope"})

    _session(shared_live, shared_live.kb.key, body)
    assert seen["document"].structured_content["filename"] == "printer.txt"
    chunks = seen["chunks"].structured_content
    assert chunks["total"] == 1 and chunks["items"][0]["document_id"] == printer
    page2 = seen["page2"].structured_content
    assert page2["total"] == 2 and page2["offset"] == 1 and len(page2["items"]) == 1
    assert {d["filename"] for d in seen["documents"].structured_content["items"]} == {
        "printer.txt",
        "toner.txt",
    }
    missing = seen["missing"]
    assert missing.is_error and missing.structured_content["error"]["code"] == "not_found"


def test_refusals_are_tool_errors_in_our_error_shape(shared_live: Live) -> None:
    seen: dict[str, Any] = {}

    async def body(client: Client) -> None:
        seen["filter"] = await client.call_tool(
            "search", {"query": "jam", "filter": {"key": "Status", "like": "x"}}
        )
        seen["blank"] = await client.call_tool("search", {"query": "   "})
        seen["keyword_threshold"] = await client.call_tool(
            "search", {"query": "jam", "mode": "keyword", "min_similarity": 0.5}
        )
        seen["after"] = await client.call_tool("list_collections", {})  # the session survived them

    _session(shared_live, shared_live.kb.key, body)
    bad_filter = seen["filter"]
    assert bad_filter.is_error
    error = bad_filter.structured_content["error"]
    assert error["code"] == "invalid_input" and "unknown operator 'like'" in error["message"]
    assert '"code": "invalid_input"' in bad_filter.content[0].text
    assert seen["blank"].structured_content["error"]["code"] == "invalid_input"
    assert "min_similarity" in seen["keyword_threshold"].structured_content["error"]["message"]
    assert seen["after"].is_error is False


def _initialize(live: Live, key: str) -> httpx.Response:
    """The MCP handshake's first request, as any client sends it."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    return httpx.post(
        f"{live.url}/mcp",
        headers={**headers, "Accept": "application/json, text/event-stream"},
        json=initialize,
    )


def _assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("kind", ["missing", "malformed", "wrong", "embeddings"])
def test_a_bad_key_is_401_with_our_error_body(shared_live: Live, kind: str) -> None:
    assert _initialize(shared_live, shared_live.kb.key).status_code == 200
    if kind == "embeddings":  # a key that is valid, but of another kind of resource
        with unit_of_work(shared_live.container, SystemClock()) as services:
            key = services.keys.create(shared_live.kb.embeddings_resource_id, "not a KB key").secret
    else:
        key = {"missing": "", "malformed": "nonsense", "wrong": shared_live.kb.key[:-4] + "abcd"}[kind]
    _assert_401(_initialize(shared_live, key))


def test_only_post_is_served(shared_live: Live) -> None:
    """Stateless: no server-initiated stream to hold open (GET), no session to end (DELETE)."""
    for method in ("GET", "DELETE"):
        response = httpx.request(method, f"{shared_live.url}/mcp", headers=shared_live.kb.headers, timeout=10)
        assert response.status_code == 405
        assert response.json()["error"]["code"] == "method_not_allowed"


def test_a_revoked_key_is_401(live: Live) -> None:
    assert _initialize(live, live.kb.key).status_code == 200
    with unit_of_work(live.container, SystemClock()) as services:
        parts = bearer.split(KEY_PREFIX, live.kb.key)
        assert parts is not None
        services.keys.revoke(parts[0])
    _assert_401(_initialize(live, live.kb.key))


def test_the_sdk_client_fails_to_connect_with_a_wrong_key(shared_live: Live) -> None:
    async def body(client: Client) -> None:
        raise AssertionError("connected with a wrong key")  # pragma: no cover

    with pytest.raises(ExceptionGroup) as raised:
        _session(shared_live, shared_live.kb.key[:-4] + "abcd", body)
    # The SDK reports the refused handshake as an MCP error (the 401 itself is checked above).
    assert raised.group_contains(MCPError, depth=2)


def test_capacity_exhausted_is_a_tool_error_before_any_embedding(control_plane: ControlPlane) -> None:
    """In-process (the SDK's client on the server object), with the control plane's clock."""
    cp = control_plane
    admin = cp.admin()
    embeddings = cp.embeddings(admin, cloud_tokens=1)
    kb = cp.knowledge_base(admin, embeddings["id"])
    key = cp.client.post(f"/v1/resources/{kb['id']}/keys", headers=admin.headers, json={}).json()["secret"]
    with session_scope(cp.container.sessions) as session:
        session.add(
            UsageEvent(
                resource_id=embeddings["id"],
                day=cp.clock.now().date(),
                model_id="all-minilm-l6-v2",
                input_tokens=1,
                api_calls=1,
                genai_units=100.0,
                source="query",
            )
        )

    def runtime() -> tuple[Container, Clock]:
        return cp.container, cp.clock

    def caller_of(_ctx: Context) -> Caller:
        return Caller(key=key, kb_id=kb["id"])

    seen: dict[str, Any] = {}

    async def main() -> None:
        async with Client(build_server(runtime, caller_of)) as client:
            seen["refused"] = await client.call_tool("search", {"query": "anything"})
            seen["keyword"] = await client.call_tool("search", {"query": "anything", "mode": "keyword"})

    anyio.run(main)
    refused = seen["refused"]
    assert refused.is_error
    assert refused.structured_content["error"]["code"] == "capacity_exhausted"
    assert seen["keyword"].is_error is False  # keyword search embeds nothing, so it is not refused
