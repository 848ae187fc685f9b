"""Search: nearest chunks under collection, metadata and rich filters; metering of the query."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kb_service.catalog import get_model
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.metering.models import UsageEvent
from tests.conftest import KB, Drainer

CHUNKS = [
    {
        "text": "The printer on floor two is out of toner.",
        "human_readable_id": "T-1",
        "metadata": {"Ticket Type": "Bug", "Status": "Solved", "Priority": "2", "Created": "2024-01-05"},
    },
    {
        "text": "The printer jams when printing double-sided pages.",
        "human_readable_id": "T-2",
        "metadata": {
            "Ticket Type": "Bug",
            "Status": "Open",
            "Priority": "5",
            "Created": "2024-02-10T09:00:00Z",
        },
    },
    {
        "text": "Request: a new printer for the marketing team.",
        "human_readable_id": "T-3",
        "metadata": {"Ticket Type": "Request", "Status": "Solved", "Priority": "1", "Created": "2024-03-01"},
    },
    {
        "text": "Holiday schedule for the support desk.",
        "human_readable_id": "N-1",
        "metadata": {
            "knowledge": "Support is closed on public holidays.",
            "sourceUrl": "https://intra.example/hol",
        },
    },
]


@pytest.fixture
def loaded(client: TestClient, kb: KB, drain: Drainer) -> KB:
    response = client.post(
        kb.url("/collections/Tickets/chunks"),
        headers=kb.headers,
        json={"mode": "insert", "chunks": CHUNKS[:3]},
    )
    assert response.status_code == 202
    response = client.post(
        kb.url("/collections/News/chunks"), headers=kb.headers, json={"mode": "insert", "chunks": CHUNKS[3:]}
    )
    assert response.status_code == 202
    drain()
    return kb


def _ids(client: TestClient, kb: KB, **body: Any) -> list[str]:
    response = client.post(kb.url("/search"), headers=kb.headers, json={"query": "printer problems", **body})
    assert response.status_code == 200, response.text
    return [r["human_readable_id"] for r in response.json()["results"]]


def test_results_are_ordered_by_similarity_with_all_fields(client: TestClient, loaded: KB) -> None:
    response = client.post(
        loaded.url("/search"), headers=loaded.headers, json={"query": "printer out of toner"}
    )
    body = response.json()
    results = body["results"]
    assert results[0]["human_readable_id"] == "T-1"
    similarities = [r["similarity"] for r in results]
    assert similarities == sorted(similarities, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in similarities)
    assert set(results[0]) >= {
        "chunk_id",
        "text",
        "similarity",
        "collection",
        "metadata",
        "document_id",
        "page",
        "human_readable_id",
        "mx_object_id",
        "knowledge",
        "sourceUrl",
    }
    assert results[0]["collection"] == "Tickets"
    assert body["input_tokens"] > 0
    assert body["model_id"] == "all-minilm-l6-v2"


def test_metadata_exact_match_requires_every_pair(client: TestClient, loaded: KB) -> None:
    assert _ids(client, loaded, metadata={"Ticket Type": "Bug", "Status": "Solved"}) == ["T-1"]
    assert sorted(_ids(client, loaded, metadata={"Ticket Type": "Bug"})) == ["T-1", "T-2"]
    assert _ids(client, loaded, metadata={"Ticket Type": "Nope"}) == []


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"key": "Status", "eq": "Open"}, ["T-2"]),
        ({"key": "Status", "ne": "Open"}, ["N-1", "T-1", "T-3"]),
        ({"key": "Ticket Type", "in": ["Request", "Bug"]}, ["T-1", "T-2", "T-3"]),
        ({"key": "Ticket Type", "not_in": ["Bug"]}, ["N-1", "T-3"]),
        ({"key": "knowledge", "exists": True}, ["N-1"]),
        ({"key": "Priority", "exists": False}, ["N-1"]),
        ({"key": "Priority", "gte": 2, "lt": 5}, ["T-1"]),
        ({"key": "Created", "gte": "2024-02-01", "lt": "2024-03-01T00:00:00Z"}, ["T-2"]),
        ({"key": "Ticket Type", "starts_with": "Req"}, ["T-3"]),
        ({"or": [{"key": "Status", "eq": "Open"}, {"key": "Priority", "eq": "1"}]}, ["T-2", "T-3"]),
        ({"and": [{"key": "Ticket Type", "eq": "Bug"}, {"not": {"key": "Status", "eq": "Open"}}]}, ["T-1"]),
    ],
)
def test_every_filter_form(client: TestClient, loaded: KB, flt: dict[str, Any], expected: list[str]) -> None:
    assert sorted(_ids(client, loaded, filter=flt, max_results=10)) == expected


def test_collections_narrow_the_search(client: TestClient, loaded: KB) -> None:
    assert _ids(client, loaded, collections=["News"]) == ["N-1"]
    assert len(_ids(client, loaded, collections=["Tickets", "News"], max_results=10)) == 4


def test_max_results_and_min_similarity(client: TestClient, loaded: KB) -> None:
    assert len(_ids(client, loaded, max_results=2)) == 2
    assert _ids(client, loaded, min_similarity=0.99) == []
    response = client.post(
        loaded.url("/search"),
        headers=loaded.headers,
        json={"query": "printer problems", "min_similarity": 0.3, "max_results": 10},
    )
    assert all(r["similarity"] >= 0.3 for r in response.json()["results"])


def test_reserved_metadata_keys_are_returned(client: TestClient, loaded: KB) -> None:
    response = client.post(
        loaded.url("/search"), headers=loaded.headers, json={"query": "holidays", "collections": ["News"]}
    )
    hit = response.json()["results"][0]
    assert hit["knowledge"] == "Support is closed on public holidays."
    assert hit["sourceUrl"] == "https://intra.example/hol"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"filter": {"key": "Status", "equals": "Open"}}, "unknown operator 'equals'"),
        ({"filter": {"and": []}}, "filter.and"),
        ({"filter": {"key": "Priority", "gte": 1, "lt": "2024-01-01"}}, "all numbers"),
        ({"filter": {"key": "Created", "gte": "last week"}}, "ISO 8601"),
        ({"filter": {"or": [{"key": "a", "eq": "b"}, {"key": "a"}]}}, "filter.or[1]"),
        ({"max_results": 0}, "max_results"),
        ({"min_similarity": 1.5}, "min_similarity"),
        ({"query": ""}, "query"),
    ],
)
def test_invalid_search_requests_are_422(
    client: TestClient, loaded: KB, body: dict[str, Any], needle: str
) -> None:
    response = client.post(loaded.url("/search"), headers=loaded.headers, json={"query": "x", **body})
    assert response.status_code == 422
    assert needle in response.json()["error"]["message"]


def test_query_tokens_are_metered_on_the_linked_embeddings_resource(
    client: TestClient, loaded: KB, container: Container
) -> None:
    def usage(source: str) -> tuple[int, int, float]:
        with session_scope(container.sessions) as session:
            row = session.execute(
                select(
                    func.coalesce(func.sum(UsageEvent.input_tokens), 0),
                    func.coalesce(func.sum(UsageEvent.api_calls), 0),
                    func.coalesce(func.sum(UsageEvent.genai_units), 0.0),
                ).where(UsageEvent.resource_id == loaded.embeddings_resource_id, UsageEvent.source == source)
            ).one()
        return int(row[0]), int(row[1]), float(row[2])

    before = usage("query")
    tokens = client.post(loaded.url("/search"), headers=loaded.headers, json={"query": "printer"}).json()[
        "input_tokens"
    ]
    after = usage("query")
    assert after[0] - before[0] == tokens
    assert after[1] - before[1] == 1
    assert after[2] - before[2] == pytest.approx(tokens * get_model("all-minilm-l6-v2").gu_per_m_input / 1e6)
    with session_scope(container.sessions) as session:
        outputs = session.scalar(select(func.sum(UsageEvent.output_tokens)))
        resources = set(session.scalars(select(UsageEvent.resource_id)))
    assert outputs == 0
    assert resources == {loaded.embeddings_resource_id}
