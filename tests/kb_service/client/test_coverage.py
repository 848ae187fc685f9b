"""The client covers every route of the OpenAPI document, so it cannot drift from the API: a new
route without a client operation (or an operation whose route is gone) fails here."""

from __future__ import annotations

import inspect
from typing import Any, get_args, get_origin, get_type_hints

from fastapi.testclient import TestClient
from pydantic import BaseModel

from kb_service.client import ROUTES, AsyncKBClient, KBClient, _calls

# Reached with other clients, on purpose: the OpenAI-compatible vector stores and files (the official
# `openai` client), the MCP endpoint (an MCP client) and the portal (a browser).
NOT_IN_THE_CLIENT = ("/v1/vector_stores", "/v1/files", "/mcp", "/portal")
METHODS = {"get", "post", "put", "patch", "delete"}


def _api_routes(client: TestClient) -> set[tuple[str, str]]:
    document = client.app.openapi()  # type: ignore[attr-defined]
    return {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in METHODS and not path.startswith(NOT_IN_THE_CLIENT)
    }


def test_every_route_of_the_openapi_document_has_a_client_operation(client: TestClient) -> None:
    api = _api_routes(client)
    assert api, "the OpenAPI document lists no routes"
    missing = sorted(api - set(ROUTES))
    stale = sorted(set(ROUTES) - api)
    assert missing == [], f"routes without a client operation: {missing}"
    assert stale == [], f"client operations whose route is gone: {stale}"


def test_both_clients_expose_every_operation() -> None:
    for name in ROUTES.values():
        sync_method = getattr(KBClient, name)
        async_method = getattr(AsyncKBClient, name)
        assert not inspect.iscoroutinefunction(sync_method), name
        assert inspect.iscoroutinefunction(async_method), name
        assert sync_method.__doc__ and sync_method.__doc__ == async_method.__doc__, name


def _client_answer(tp: Any) -> str | None:
    """The schema name of what an operation answers (`list:X` for a list), None for a plain answer."""
    if get_origin(tp) is list:
        return f"list:{_client_answer(get_args(tp)[0])}"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp.__name__.replace("[", "_").replace("]", "_")  # Page[DocumentOut] is Page_DocumentOut_
    return None


def _api_answer(operation: dict[str, Any]) -> str | None:
    for status, response in sorted(operation["responses"].items()):
        if not status.startswith("2"):
            continue
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        if "$ref" in schema:
            return str(schema["$ref"]).rsplit("/", 1)[-1]
        if schema.get("type") == "array" and "$ref" in schema.get("items", {}):
            return "list:" + str(schema["items"]["$ref"]).rsplit("/", 1)[-1]
        return None
    return None


def test_every_operation_answers_the_model_the_route_documents(client: TestClient) -> None:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    wrong = []
    for (method, path), name in ROUTES.items():
        documented = _api_answer(paths[path][method.lower()])
        call_type = get_type_hints(getattr(_calls, name))["return"]
        answered = _client_answer(get_args(call_type)[0])
        if documented is not None and answered != documented:
            wrong.append(f"{method} {path}: the route answers {documented}, the client reads {answered}")
    assert wrong == []
