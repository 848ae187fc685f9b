"""A JSON body's numbers are JSON numbers: `true` is not 1. Pydantic's lax mode used to read it as 1,
so `{"cloud_tokens": true}` shrank a resource's capacity to one Cloud Token. Query parameters stay
lax (a query string has no types)."""

from __future__ import annotations

import inspect
import types
from typing import Any, Union, get_args, get_origin

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel
from pydantic.types import Strict

import schemas
from kb_service.db import session_scope
from kb_service.services import Services
from tests.conftest import KB
from tests.factories.controlplane import ControlPlane

HAIKU = "anthropic.claude-haiku-4-5"


@pytest.mark.parametrize(
    "body",
    [
        {"max_results": True},
        {"min_similarity": True},
        {"candidates": True},
        {"diversity": False},
        {"max_chunks_per_document": True},
        {"mode": "hybrid", "hybrid": {"rrf_k": True}},
        {"mode": "hybrid", "hybrid": {"vector_weight": True}},
        {"max_results": 2.0},
        {"max_results": "2"},
    ],
)
def test_search_refuses_a_non_number_where_a_number_is_expected(
    client: TestClient, kb: KB, body: dict[str, Any]
) -> None:
    response = client.post(kb.url("/search"), headers=kb.headers, json={"query": "q", **body})
    assert response.status_code == 422, response.text  # was a 200 (true read as 1)
    assert response.json()["error"]["code"] == "invalid_input"


def test_search_still_takes_an_integer_for_a_float(client: TestClient, kb: KB) -> None:
    body = {"query": "q", "min_similarity": 0, "diversity": 0}
    assert client.post(kb.url("/search"), headers=kb.headers, json=body).status_code == 200


def test_a_boolean_capacity_is_refused_and_the_capacity_kept(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    text = cp.provision(admin, plan=None, cloud_tokens=30)
    url = f"/v1/resources/{text['id']}"
    before = cp.client.get(f"{url}/consumption", headers=admin.headers).json()["allocation_genai_units"]
    response = cp.client.put(f"{url}/capacity", headers=admin.headers, json={"cloud_tokens": True})
    assert response.status_code == 422, response.text  # was a 200 setting 1 Cloud Token
    after = cp.client.get(f"{url}/consumption", headers=admin.headers).json()["allocation_genai_units"]
    assert after == before == 3000


def test_boolean_token_counts_are_refused(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    text = cp.provision(admin)
    with session_scope(cp.container.sessions) as session:
        secret = Services(session, cp.container, cp.clock).keys.create(text["id"], "gateway").secret
    response = cp.client.post(
        "/v1/gateway/usage",
        headers={"Authorization": f"Bearer {secret}"},
        json={"model_id": HAIKU, "input_tokens": True, "output_tokens": False},
    )
    assert response.status_code == 422, response.text  # was a 200 metering 1 token


def test_a_query_parameter_stays_lax(client: TestClient, kb: KB) -> None:
    response = client.get(kb.url("/documents"), headers=kb.headers, params={"offset": "1"})
    assert response.status_code == 200


def _schema_classes() -> dict[str, type[BaseModel]]:
    import importlib
    import pkgutil

    classes: dict[str, type[BaseModel]] = {}
    for module_info in pkgutil.iter_modules(schemas.__path__):
        module = importlib.import_module(f"schemas.{module_info.name}")
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseModel) and value.__module__.startswith("schemas."):
                classes[value.__name__] = value
    return classes


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if "$ref" in node else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def _numeric(annotation: Any) -> bool:
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_numeric(arg) for arg in get_args(annotation))
    return annotation in (int, float)


def test_every_number_in_every_json_request_body_is_strict(client: TestClient) -> None:
    """The contract behind the cases above, for bodies added later too."""
    spec = client.get("/openapi.json").json()
    components = spec["components"]["schemas"]
    pending = {
        name
        for operations in spec["paths"].values()
        for operation in operations.values()
        for name in _refs(operation.get("requestBody", {}).get("content", {}).get("application/json", {}))
    }
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        seen.add(name)
        pending |= _refs(components[name]) - seen
    classes = _schema_classes()
    lax = [
        f"{name}.{field}"
        for name in sorted(seen)
        if name in classes
        for field, info in classes[name].model_fields.items()
        if _numeric(info.annotation) and not any(isinstance(m, Strict) and m.strict for m in info.metadata)
    ]
    assert {"SearchRequest", "GatewayUsage", "ChatCompletionRequest"} <= seen & set(classes)
    assert lax == []
