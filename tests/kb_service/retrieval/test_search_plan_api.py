"""Every search response says which scan plan the vector store ran and whether it is exact."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import KB, Drainer

from .test_search_api import CHUNKS


@pytest.fixture
def loaded(client: TestClient, kb: KB, drain: Drainer) -> KB:
    response = client.post(
        kb.url("/collections/Tickets/chunks"), headers=kb.headers, json={"mode": "insert", "chunks": CHUNKS}
    )
    assert response.status_code == 202
    drain()
    return kb


@pytest.mark.parametrize("mode", ["vector", "hybrid", "keyword"])
def test_the_search_response_reports_the_plan(client: TestClient, loaded: KB, mode: str) -> None:
    response = client.post(
        loaded.url("/search"),
        headers=loaded.headers,
        json={"query": "printer problems", "mode": mode, "collections": ["Tickets"]},
    )
    assert response.status_code == 200, response.text
    plan = response.json()["plan"]
    # Four chunks: the embedded store gathers them (exact); keyword search has no vector leg.
    expected = "keyword-only" if mode == "keyword" else "candidate-list"
    assert plan["kind"] == expected
    assert plan["exact"] is True
    assert plan["quantized"] is False
    if mode != "keyword":
        assert plan["scanned"] == len(CHUNKS)


def test_the_openapi_document_describes_the_plan(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert "plan" in schemas["SearchResponse"]["properties"]
    properties = schemas["SearchPlanInfo"]["properties"]
    assert {"kind", "exact", "quantized", "scanned", "rescored"} <= set(properties)
    assert "slice-scan" in properties["kind"]["description"]
