"""Evaluation built in: the figures equal what one computes from the search API's own answers for the
same requests, query embeddings are metered like any search, and runs are stored, listed and fetched."""

from __future__ import annotations

import math
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.metering.models import UsageEvent
from tests.conftest import KB, Drainer, create_kb, upload

ARTICLES = {
    "A-1": "To reset your password open the account page and choose Forgot password; a link is emailed.",
    "A-2": "Invoices are archived for ten years and can be exported as PDF from the billing page.",
    "A-3": "Two-factor authentication uses an authenticator app; recovery codes are shown once.",
    "A-4": "The mobile app works offline and syncs notes when the connection comes back.",
    "A-5": "Team administrators can invite members by email and revoke their access at any time.",
    "A-6": "Exports to CSV include every column of the report, in the order shown on screen.",
}
QUESTIONS: list[dict[str, Any]] = [
    {"query": "I forgot my password", "relevant": [{"mx_object_id": "A-1"}]},
    {"query": "download an invoice as pdf", "relevant": [{"mx_object_id": "A-2", "grade": 2},
                                                         {"mx_object_id": "A-6"}]},
    {"query": "lost my phone with the authenticator", "relevant": [{"human_readable_id": "2fa"}]},
    {"query": "how do I add colleagues", "relevant": [{"mx_object_id": "A-5"}]},
    {"query": "refund policy", "relevant": [{"document_id": "missing-doc"}]},
]  # fmt: skip
MODES = ["vector", "keyword", "hybrid"]
K = 3


def _seed(client: TestClient, kb: KB, drain: Drainer) -> str:
    chunks = [
        {"text": text, "human_readable_id": "2fa" if obj == "A-3" else obj, "mx_object_id": obj}
        for obj, text in ARTICLES.items()
    ]
    response = client.post(
        kb.url("/collections/Help/chunks"), headers=kb.headers, json={"mode": "insert", "chunks": chunks}
    )
    assert response.status_code == 202, response.text
    doc = upload(client, kb, "pricing.txt", b"Prices: the team plan costs ten euros per member and month.")
    assert doc.status_code == 202, doc.text
    drain()
    document_id: str = doc.json()["id"]
    return document_id


def _usage_rows(container: Container) -> int:
    with session_scope(container.sessions) as session:
        return session.scalar(select(func.count(UsageEvent.id))) or 0


def _recomputed(client: TestClient, kb: KB, question: dict[str, Any], mode: str) -> dict[str, float]:
    """The metrics from the search API's own answer, computed here independently."""
    response = client.post(
        kb.url("/search"),
        headers=kb.headers,
        json={"query": question["query"], "mode": mode, "max_results": K},
    )
    assert response.status_code == 200, response.text
    items: list[str] = []  # distinct items, best first
    relevant = [(next(f for f in item if f != "grade"), item) for item in question["relevant"]]
    for hit in response.json()["results"]:
        key = next((f"{f}={item[f]}" for f, item in relevant if hit[f] == item[f]), None)
        if key is None:  # not relevant: the hit's own document or app object
            own = "document_id" if hit["document_id"] else "mx_object_id"
            key = f"{own}={hit[own]}"
        if key not in items:
            items.append(key)
    grades = {f"{f}={item[f]}": item.get("grade", 1) for f, item in relevant}
    gains = [grades.get(item, 0) for item in items[:K]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(grades.values(), reverse=True)[:K]))
    first = next((i + 1 for i, g in enumerate(gains) if g > 0), None)
    return {
        f"ndcg@{K}": dcg / ideal,
        f"recall@{K}": sum(1 for g in gains if g > 0) / len(grades),
        f"mrr@{K}": 1 / first if first else 0.0,
        f"hit_rate@{K}": 1.0 if first else 0.0,
    }


def test_figures_equal_those_computed_from_the_search_api(
    client: TestClient, kb: KB, drain: Drainer, container: Container
) -> None:
    _seed(client, kb, drain)
    metered = _usage_rows(container)
    body = {"name": "baseline", "questions": QUESTIONS, "modes": MODES, "k": K, "collections": ["Help"]}
    response = client.post(kb.url("/evaluations"), headers=kb.headers, json=body)
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["status"] == "completed"
    assert run["question_count"] == len(QUESTIONS)

    # One metered query embedding per question in each mode that embeds (keyword embeds nothing).
    assert _usage_rows(container) - metered == len(QUESTIONS) * 2
    assert run["input_tokens"] == sum(run["summary"][m]["input_tokens"] for m in MODES)
    assert run["summary"]["keyword"]["input_tokens"] == 0
    assert run["summary"]["vector"]["input_tokens"] > 0

    for mode in MODES:
        per_question = []
        for question, result in zip(QUESTIONS, run["questions"], strict=True):
            mine = _recomputed(client, kb, question, mode)
            assert result["modes"][mode]["metrics"] == pytest.approx(mine), (mode, question["query"])
            assert result["modes"][mode]["latency_ms"] > 0
            per_question.append(mine)
        expected = {name: sum(q[name] for q in per_question) / len(per_question) for name in per_question[0]}
        assert run["summary"][mode]["metrics"] == pytest.approx(expected)
        assert set(run["summary"][mode]["latency_ms"]) == {"p50", "p95", "mean"}
    first = run["questions"][0]["modes"]["vector"]["relevant"]
    assert first == [{"field": "mx_object_id", "value": "A-1", "grade": 1, "rank": 1}]
    assert run["questions"][4]["modes"]["hybrid"]["relevant"][0]["rank"] is None


def test_runs_are_stored_listed_newest_first_and_fetched(client: TestClient, kb: KB, drain: Drainer) -> None:
    document_id = _seed(client, kb, drain)
    questions = [{"query": "price of the team plan", "relevant": [{"document_id": document_id}]}]
    ids = []
    for name in ("first", "second"):
        body = {"name": name, "questions": questions, "modes": ["vector", "keyword"], "k": 5}
        response = client.post(kb.url("/evaluations"), headers=kb.headers, json=body)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])

    listing = client.get(kb.url("/evaluations"), headers=kb.headers, params={"limit": 1})
    assert listing.status_code == 200, listing.text
    page = listing.json()
    assert page["total"] == 2
    assert [item["id"] for item in page["items"]] == [ids[1]]
    headline = page["items"][0]["summary"]["vector"]["metrics"]
    assert headline == {"ndcg@5": 1.0, "recall@5": 1.0, "mrr@5": 1.0, "hit_rate@5": 1.0}
    assert "questions" not in page["items"][0]

    fetched = client.get(kb.url(f"/evaluations/{ids[0]}"), headers=kb.headers).json()
    assert fetched["name"] == "first"
    assert fetched["questions"][0]["modes"]["keyword"]["relevant"][0]["value"] == document_id
    assert fetched["collections"] is None


def test_another_kbs_run_is_404(client: TestClient, kb: KB, drain: Drainer, container: Container) -> None:
    _seed(client, kb, drain)
    body = {"questions": [{"query": "password", "relevant": [{"mx_object_id": "A-1"}]}]}
    run = client.post(kb.url("/evaluations"), headers=kb.headers, json=body).json()
    other = create_kb(container, "Other")
    assert client.get(other.url(f"/evaluations/{run['id']}"), headers=other.headers).status_code == 404
    assert client.get(other.url("/evaluations"), headers=other.headers).json()["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"questions": []},
        {"questions": [{"query": "q", "relevant": []}]},
        {"questions": [{"query": "q", "relevant": [{"mx_object_id": "a", "document_id": "b"}]}]},
        {"questions": [{"query": "q", "relevant": [{"mx_object_id": "a", "grade": 0}]}]},
        {"questions": [{"query": "q", "relevant": [{"mx_object_id": "a"}, {"mx_object_id": "a"}]}]},
        {"questions": [{"query": "q", "relevant": [{"mx_object_id": "a"}]}], "modes": ["vector", "vector"]},
        {"questions": [{"query": "q", "relevant": [{"mx_object_id": "a"}]}], "modes": ["semantic"]},
        {"questions": [{"query": "q", "relevant": [{"mx_object_id": "a"}]}], "filter": {"key": "A", "zz": 1}},
    ],
)
def test_invalid_requests_are_422_and_store_nothing(
    client: TestClient, kb: KB, container: Container, body: dict[str, Any]
) -> None:
    metered = _usage_rows(container)
    response = client.post(kb.url("/evaluations"), headers=kb.headers, json=body)
    assert response.status_code == 422, response.text
    assert client.get(kb.url("/evaluations"), headers=kb.headers).json()["total"] == 0
    assert _usage_rows(container) == metered
