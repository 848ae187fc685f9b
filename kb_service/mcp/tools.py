"""The MCP tools over one knowledge base: `search`, `list_collections`, `list_documents`,
`get_document` and `get_chunks`, built with the official SDK (`mcp.server.MCPServer`).

Every call opens one unit of work, authenticates the caller's KB key exactly as the REST API does
(`KeyService.authenticate`, then `ResourceService.knowledge_base_of`) and asks the composition root
for the same services the REST routes use — `Services.retrieval(kb).search`, `Services.knowledge`
— so metering, capacity refusals, deprovisioning (410) and validation are the REST ones, never a
second copy. A refusal comes back as an MCP tool error (`isError: true`) whose structured content
is our error body `{"error": {"code", "message", "details"}}`; nothing a tool raises crashes the
session.

How the caller is known depends on the transport (`CallerSource`): over streamable HTTP it is the
`Authorization: Bearer` header of the request that carried the call; over stdio, the key and KB id
the server was started with.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from kb_service.clock import Clock
from kb_service.container import Container
from kb_service.errors import InvalidInput, KBError, Unauthorized
from kb_service.knowledge.presenters import chunk_out, collection_out, document_out
from kb_service.knowledge.service import KnowledgeService
from kb_service.resources.models import Resource
from kb_service.retrieval.presenters import search_response
from kb_service.services import Services, unit_of_work
from kb_service.vectorstores.base import Eq
from schemas._base import MAX_LIMIT, Page
from schemas.knowledge import ChunkOut, CollectionOut, DocumentOut, WorkStatusName
from schemas.retrieval import FILTER_DESCRIPTION, MAX_CANDIDATES, HybridOptions, SearchMode, SearchRequest

INSTRUCTIONS = (
    "Retrieval over one knowledge base. Call `search` with the user's question to get the most "
    "relevant chunks; cite a hit by its `sourceUrl`, or its document's filename and `page`, or its "
    "`human_readable_id`. When a hit has `knowledge`, hand that text to the model instead of `text`. "
    "`list_collections` shows what can be searched; `get_document` and `get_chunks` read a document "
    "in full, page by page of chunks."
)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls: the presented KB key, and the KB it must reach (None: the one the key reaches)."""

    key: str
    kb_id: str | None = None


# The caller of one tool call, from its request context (HTTP) or fixed at start (stdio).
CallerSource = Callable[[Context], Caller]
# The container and clock the calls run on (the app's, or the stdio process's own).
Runtime = Callable[[], tuple[Container, Clock]]

_READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)


def build_server(runtime: Runtime, caller_of: CallerSource) -> MCPServer:
    """The MCP server with its tools; the same for both transports."""
    with _root_logging_kept():
        server = MCPServer("kb-service", instructions=INSTRUCTIONS)
    tools = _Tools(runtime, caller_of)
    for tool, description in (
        (tools.search, SEARCH_DESCRIPTION),
        (
            tools.list_collections,
            "The collections of the knowledge base with their document and chunk counts.",
        ),
        (
            tools.list_documents,
            "Uploaded documents (files) of the knowledge base, newest first, paged; optionally of one "
            "collection or in one processing status.",
        ),
        (
            tools.get_document,
            "One uploaded document: filename, collection, metadata, processing status, pages and "
            "chunk count.",
        ),
        (
            tools.get_chunks,
            "The chunks of a document (give `document_id`) or of a collection (give `collection`), in "
            "their order within the source, paged with `offset` / `limit`; `total` says how many there are.",
        ),
    ):
        server.add_tool(tool, description=description, annotations=_READ_ONLY)
    return server


@contextmanager
def _root_logging_kept() -> Iterator[None]:
    """MCPServer's constructor calls `logging.basicConfig` with a handler of its own; the service
    configures logging itself (observability.configure_logging), so the root logger is put back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


SEARCH_DESCRIPTION = (
    "Search the knowledge base for the chunks most relevant to a question. Each result carries the "
    "chunk `text`, its `score` (what the results are ranked by) and `similarity` (cosine to the "
    "query), its `collection`, `metadata`, the document's `page` or the pushed chunk's "
    "`human_readable_id`, and the reserved `sourceUrl` (a link to cite) and `knowledge` (text to use "
    "instead of `text`) when present. Narrow with `collections`, exact-match `metadata` and a "
    "`filter`. Metered like the REST search: the query embedding counts against the knowledge "
    "base's embeddings allocation."
)


class _Tools:
    def __init__(self, runtime: Runtime, caller_of: CallerSource) -> None:
        self._runtime = runtime
        self._caller_of = caller_of

    def search(
        self,
        ctx: Context,
        query: Annotated[str, Field(description="The question, in natural language; not blank.")],
        mode: Annotated[
            SearchMode,
            Field(
                description="`vector` (default): by meaning. `keyword`: BM25 over the words (embeds "
                "nothing). `hybrid`: both, fused by reciprocal rank fusion."
            ),
        ] = "vector",
        collections: Annotated[
            list[str] | None, Field(description="Collection names to search; all when absent.")
        ] = None,
        metadata: Annotated[
            dict[str, str] | None, Field(description="Exact-match metadata; every pair must match.")
        ] = None,
        filter: Annotated[dict[str, Any] | None, Field(description=FILTER_DESCRIPTION)] = None,
        max_results: Annotated[int, Field(ge=1, le=100, description="How many results, 1-100.")] = 5,
        min_similarity: Annotated[
            float | None,
            Field(ge=-1.0, le=1.0, description="Minimum cosine similarity; not in `keyword` mode."),
        ] = None,
        hybrid: Annotated[HybridOptions | None, Field(description="Fusion options of `hybrid` mode.")] = None,
        candidates: Annotated[
            int | None,
            Field(
                ge=1,
                le=MAX_CANDIDATES,
                description="How deep each leg searches and how many hits reranking / diversity choose from.",
            ),
        ] = None,
        rerank: Annotated[
            bool, Field(description="Reorder with a cross-encoder, when the deployment has one.")
        ] = False,
        diversity: Annotated[
            float,
            Field(ge=0.0, le=1.0, description="0 keeps the ranking; higher pushes near-duplicates down."),
        ] = 0.0,
        max_chunks_per_document: Annotated[
            int | None, Field(ge=1, description="At most this many results per document or app object.")
        ] = None,
    ) -> CallToolResult:
        arguments = {
            "query": query,
            "mode": mode,
            "collections": collections,
            "metadata": metadata,
            "filter": filter,
            "max_results": max_results,
            "min_similarity": min_similarity,
            "hybrid": hybrid.model_dump() if hybrid is not None else None,
            "candidates": candidates,
            "rerank": rerank,
            "diversity": diversity,
            "max_chunks_per_document": max_chunks_per_document,
        }

        def run(services: Services, kb: Resource, _actor: str) -> BaseModel:
            # The REST request model validates exactly as the route does (a blank query, ...).
            request = SearchRequest.model_validate(arguments)
            return search_response(services.retrieval(kb).search(request))

        return self._call(ctx, run)

    def list_collections(self, ctx: Context) -> CallToolResult:
        def run(services: Services, kb: Resource, actor: str) -> BaseModel:
            summaries = services.knowledge(kb, actor).collections()
            return _Collections(collections=[collection_out(s) for s in summaries])

        return self._call(ctx, run)

    def list_documents(
        self,
        ctx: Context,
        collection: Annotated[str | None, Field(description="Only this collection's documents.")] = None,
        status: Annotated[WorkStatusName | None, Field(description="Only documents in this status.")] = None,
        offset: Annotated[int, Field(ge=0, description="Documents to skip.")] = 0,
        limit: Annotated[int, Field(ge=1, le=MAX_LIMIT, description="Documents per page.")] = 50,
    ) -> CallToolResult:
        def run(services: Services, kb: Resource, actor: str) -> BaseModel:
            items, total = services.knowledge(kb, actor).list_documents(
                collection=collection, status=status, offset=offset, limit=limit
            )
            return Page[DocumentOut](
                items=[document_out(d) for d in items], total=total, offset=offset, limit=limit
            )

        return self._call(ctx, run)

    def get_document(
        self, ctx: Context, document_id: Annotated[str, Field(description="The document's id.")]
    ) -> CallToolResult:
        def run(services: Services, kb: Resource, actor: str) -> BaseModel:
            return document_out(services.knowledge(kb, actor).document(document_id))

        return self._call(ctx, run)

    def get_chunks(
        self,
        ctx: Context,
        document_id: Annotated[str | None, Field(description="The chunks of this document.")] = None,
        collection: Annotated[
            str | None, Field(description="The chunks of this collection (when no document_id).")
        ] = None,
        offset: Annotated[int, Field(ge=0, description="Chunks to skip.")] = 0,
        limit: Annotated[int, Field(ge=1, le=MAX_LIMIT, description="Chunks per page.")] = 20,
    ) -> CallToolResult:
        def run(services: Services, kb: Resource, actor: str) -> BaseModel:
            knowledge = services.knowledge(kb, actor)
            return _chunk_page(knowledge, document_id, collection, offset, limit)

        return self._call(ctx, run)

    def _call(self, ctx: Context, work: Callable[[Services, Resource, str], BaseModel]) -> CallToolResult:
        """One tool call as one unit of work, as the caller; a refusal is a tool error in our shape.
        (A sync tool: the SDK runs it on a worker thread, off the event loop.)"""
        try:
            caller = self._caller_of(ctx)
            container, clock = self._runtime()
            with unit_of_work(container, clock) as services:
                principal = services.keys.authenticate(caller.key)
                kb = services.resources.knowledge_base_of(principal, caller.kb_id or principal.resource_id)
                result = work(services, kb, principal.activity_actor)
        except KBError as exc:
            return error_result(exc)
        except ValidationError as exc:
            return error_result(_invalid(exc))
        structured = result.model_dump(mode="json")
        return CallToolResult(
            content=[TextContent(type="text", text=json.dumps(structured, ensure_ascii=False))],
            structured_content=structured,
        )


class _Collections(BaseModel):
    collections: list[CollectionOut]


def _chunk_page(
    knowledge: KnowledgeService, document_id: str | None, collection: str | None, offset: int, limit: int
) -> Page[ChunkOut]:
    if document_id is not None:
        document = knowledge.document(document_id)
        name, where = document.collection.name, Eq("document_id", document.id)
    elif collection is not None:
        name, where = collection, None
    else:
        raise InvalidInput("Give `document_id` or `collection`.", field="document_id")
    page = knowledge.list_chunks(
        name, offset=offset, limit=limit, metadata={}, where=where, object_ids=[], entity=None
    )
    return Page[ChunkOut](
        items=[chunk_out(c) for c in page.items], total=page.total, offset=offset, limit=limit
    )


def error_result(exc: KBError) -> CallToolResult:
    """A refusal as an MCP tool error: our error body, as text and as structured content."""
    body = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(body, ensure_ascii=False))],
        structured_content=body,
        is_error=True,
    )


def _invalid(exc: ValidationError) -> InvalidInput:
    """A request-model refusal worded as the REST API words request validation errors."""
    problems = [
        {"field": ".".join(str(part) for part in error["loc"]) or "request", "problem": error["msg"]}
        for error in exc.errors()
    ]
    first = problems[0] if problems else {"field": "request", "problem": "invalid"}
    return InvalidInput(
        f"Invalid request: {first['field']}: {first['problem']}.", details={"errors": problems}
    )


def bearer_key(headers: Any) -> str:
    """The key of an `Authorization: Bearer <key>` header, or Unauthorized (as the REST API says)."""
    value = headers.get("authorization") if headers is not None else None
    scheme, _, credentials = (value or "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthorized("Missing API key: send `Authorization: Bearer <key>`.")
    return credentials.strip()
