"""Search modes, the full count, diversity and the per-document cap through the HTTP API."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.metering.models import UsageEvent
from kb_service.vectorstores.base import Chunk, ChunkWrite
from tests.conftest import KB, Drainer

TICKETS = [
    ("T-1", "The printer on floor two is out of toner.", {"Status": "Solved"}),
    ("T-2", "The printer jams when printing double-sided pages.", {"Status": "Open"}),
    ("T-3", "Request: a new laptop for the marketing team.", {"Status": "Solved"}),
    ("T-4", "Holiday schedule for the support desk.", {"Status": "Open"}),
]


@pytest.fixture
def loaded(client: TestClient, kb: KB, drain: Drainer) -> KB:
    chunks = [{"text": t, "human_readable_id": h, "metadata": m} for h, t, m in TICKETS]
    response = client.post(
        kb.url("/collections/Tickets/chunks"), headers=kb.headers, json={"mode": "insert", "chunks": chunks}
    )
    assert response.status_code == 202
    response = client.post(
        kb.url("/collections/News/chunks"),
        headers=kb.headers,
        json={
            "mode": "insert",
            "chunks": [{"text": "Printer toner is now ordered centrally.", "human_readable_id": "N-1"}],
        },
    )
    assert response.status_code == 202
    drain()
    return kb


def search(client: TestClient, kb: KB, **body: Any) -> dict[str, Any]:
    response = client.post(kb.url("/search"), headers=kb.headers, json={"query": "printer toner", **body})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def usage_rows(container: Container, resource_id: str) -> int:
    with session_scope(container.sessions) as session:
        count = session.scalar(select(func.count()).where(UsageEvent.resource_id == resource_id))
    return int(count or 0)


def test_vector_is_the_default_mode_and_says_so(client: TestClient, loaded: KB) -> None:
    body = search(client, loaded)
    assert body["mode"] == "vector" and body["rerank"] is None
    for hit in body["results"]:
        assert hit["legs"] == ["vector"] and hit["score"] == hit["similarity"]
        assert hit["rerank_score"] is None


def test_keyword_mode_embeds_nothing_and_meters_nothing(
    client: TestClient, loaded: KB, container: Container
) -> None:
    before = usage_rows(container, loaded.embeddings_resource_id)
    body = search(client, loaded, mode="keyword", max_results=10)
    assert usage_rows(container, loaded.embeddings_resource_id) == before
    assert body["mode"] == "keyword" and body["input_tokens"] == 0
    texts = [hit["text"] for hit in body["results"]]
    # Only chunks containing a query word, best BM25 first ("toner" is rarer than "printer").
    assert set(texts) == {TICKETS[0][1], TICKETS[1][1], "Printer toner is now ordered centrally."}
    assert [hit["legs"] for hit in body["results"]] == [["keyword"]] * 3
    assert all(hit["similarity"] is None for hit in body["results"])
    scores = [hit["score"] for hit in body["results"]]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0


def test_hybrid_fuses_both_legs_and_reports_them(client: TestClient, loaded: KB) -> None:
    body = search(client, loaded, mode="hybrid", max_results=5, hybrid={"vector_weight": 0.5, "rrf_k": 60})
    assert body["mode"] == "hybrid" and body["input_tokens"] > 0
    results = body["results"]
    assert len(results) == 5
    scores = [hit["score"] for hit in results]
    assert scores == sorted(scores, reverse=True)
    assert all(hit["similarity"] is not None for hit in results)
    both = [hit for hit in results if hit["legs"] == ["vector", "keyword"]]
    assert both and both[0] == results[0]  # found by both legs, so ranked first
    assert {tuple(hit["legs"]) for hit in results} >= {("vector",), ("vector", "keyword")}


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_collections_filters_and_max_results_apply_in_every_mode(
    client: TestClient, loaded: KB, mode: str
) -> None:
    body = search(
        client,
        loaded,
        mode=mode,
        collections=["Tickets"],
        filter={"key": "Status", "eq": "Solved"},
        max_results=10,
    )
    ids = {hit["human_readable_id"] for hit in body["results"]}
    assert ids == ({"T-1"} if mode == "keyword" else {"T-1", "T-3"})
    assert len(search(client, loaded, mode=mode, max_results=1)["results"]) == 1


def test_min_similarity_needs_the_vector_leg(client: TestClient, loaded: KB) -> None:
    response = client.post(
        loaded.url("/search"),
        headers=loaded.headers,
        json={"query": "printer", "mode": "keyword", "min_similarity": 0.2},
    )
    assert response.status_code == 422
    assert "min_similarity" in response.json()["error"]["message"]


def test_rerank_without_a_reranker_is_a_400_naming_the_setting(
    client: TestClient, loaded: KB, container: Container
) -> None:
    before = usage_rows(container, loaded.embeddings_resource_id)
    response = client.post(
        loaded.url("/search"), headers=loaded.headers, json={"query": "printer", "rerank": True}
    )
    assert response.status_code == 400
    assert "KB_RERANK__PROVIDER=cohere" in response.json()["error"]["message"]
    assert usage_rows(container, loaded.embeddings_resource_id) == before  # refused before embedding


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"mode": "semantic"}, "mode"),
        ({"min_similarity": -1.5}, "min_similarity"),
        ({"diversity": 1.5}, "diversity"),
        ({"candidates": 0}, "candidates"),
        ({"candidates": 201}, "candidates"),
        ({"max_chunks_per_document": 0}, "max_chunks_per_document"),
        ({"hybrid": {"vector_weight": 2}}, "vector_weight"),
    ],
)
def test_invalid_options_are_422(client: TestClient, loaded: KB, body: dict[str, Any], needle: str) -> None:
    response = client.post(loaded.url("/search"), headers=loaded.headers, json={"query": "x", **body})
    assert response.status_code == 422
    assert needle in response.json()["error"]["message"]


def test_the_openapi_document_says_min_similarity_defaults_to_no_threshold(client: TestClient) -> None:
    request = client.get("/openapi.json").json()["components"]["schemas"]["SearchRequest"]
    schema = request["properties"]
    field = schema["min_similarity"]
    # Optional and nullable; FastAPI leaves a null default out of the document, so it is described.
    assert "min_similarity" not in request.get("required", [])
    assert {"type": "null"} in field["anyOf"]
    assert {"type": "number", "minimum": -1.0, "maximum": 1.0} in field["anyOf"]
    assert "no threshold" in field["description"]
    assert schema["mode"]["default"] == "vector"


@pytest.mark.parametrize("mode", ["vector", "hybrid"])
def test_a_filter_whose_matches_all_have_negative_cosine_still_fills_max_results(
    client: TestClient, kb: KB, container: Container, mode: str
) -> None:
    query = "printer toner"
    embedded = container.embedders.get("all-minilm-l6-v2").embed([query], "search_query").vectors[0]
    rng = np.random.default_rng(7)
    writes = []
    for i in range(30):
        vector = -embedded + 0.3 * rng.standard_normal(embedded.shape).astype(np.float32)
        tier = "gold" if i < 12 else "silver"
        chunk = Chunk(f"neg-{i:02d}", "default", f"unrelated text {i}", "src", metadata={"tier": tier})
        writes.append(ChunkWrite(chunk, (vector / np.linalg.norm(vector)).astype(np.float32)))
    container.store.write(kb.id, writes)

    body = search(client, kb, query=query, mode=mode, filter={"key": "tier", "eq": "gold"}, max_results=10)

    assert len(body["results"]) == 10
    assert all(hit["similarity"] < 0 for hit in body["results"])
    assert {hit["metadata"]["tier"] for hit in body["results"]} == {"gold"}
    # An explicit threshold in the negative range is accepted, and applied.
    thresholded = search(client, kb, mode=mode, filter={"key": "tier", "eq": "gold"}, min_similarity=-0.5)
    assert all(hit["similarity"] >= -0.5 for hit in thresholded["results"])


@pytest.fixture
def duplicates(client: TestClient, kb: KB, drain: Drainer) -> KB:
    """Object A has four near-identical chunks about toner; B and C one chunk each, less relevant."""
    chunks = [
        {"text": f"The printer toner cartridge is empty, replace the toner ({n}).", "mx_object_id": "A"}
        for n in range(4)
    ] + [
        {"text": "Printer paper jams in tray two.", "mx_object_id": "B"},
        {"text": "Order new toner from the supplier portal.", "mx_object_id": "C"},
    ]
    for chunk in chunks:
        chunk["human_readable_id"] = f"{chunk['mx_object_id']}-{chunks.index(chunk)}"
    response = client.post(
        kb.url("/collections/Tickets/chunks"), headers=kb.headers, json={"mode": "insert", "chunks": chunks}
    )
    assert response.status_code == 202
    drain()
    return kb


EMPTY_CARTRIDGE = "the toner cartridge is empty"


def test_max_chunks_per_document_caps_each_object(client: TestClient, duplicates: KB) -> None:
    plain = search(client, duplicates, query=EMPTY_CARTRIDGE, max_results=3)
    assert [hit["mx_object_id"] for hit in plain["results"]] == ["A", "A", "A"]
    capped = search(client, duplicates, query=EMPTY_CARTRIDGE, max_results=3, max_chunks_per_document=1)
    assert sorted(hit["mx_object_id"] for hit in capped["results"]) == ["A", "B", "C"]
    two = search(
        client, duplicates, query=EMPTY_CARTRIDGE, max_results=4, max_chunks_per_document=2, mode="hybrid"
    )
    objects = [hit["mx_object_id"] for hit in two["results"]]
    assert objects.count("A") == 2 and len(objects) == 4


def test_diversity_lets_other_objects_in_before_near_duplicates(client: TestClient, duplicates: KB) -> None:
    diverse = search(client, duplicates, query=EMPTY_CARTRIDGE, max_results=3, diversity=0.7)
    objects = [hit["mx_object_id"] for hit in diverse["results"]]
    assert objects[0] == "A" and objects.count("A") < 3
    # diversity 0 is the plain ranking, and the same request ranks the same way every time.
    plain = search(client, duplicates, query=EMPTY_CARTRIDGE, max_results=3)
    assert search(client, duplicates, query=EMPTY_CARTRIDGE, max_results=3, diversity=0.0) == plain
    assert search(client, duplicates, query=EMPTY_CARTRIDGE, max_results=3, diversity=0.7) == diverse
