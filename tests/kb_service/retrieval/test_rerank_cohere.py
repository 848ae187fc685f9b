"""CohereReranker against a fake Cohere served at the httpx transport (the SDK and our code run for
real), its GU rate, and the factory."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from kb_service.config import CohereSettings, RerankSettings
from kb_service.retrieval.rerankers.base import RerankerError, TransientRerankerError, rerank_genai_units
from kb_service.retrieval.rerankers.cohere import CohereReranker
from kb_service.retrieval.rerankers.factory import build_reranker

API_KEY = "rerank-key-1c2d"
SETTINGS = CohereSettings(api_key=SecretStr(API_KEY), base_url="https://cohere.test")


def rerank_reply(scores: list[float], search_units: int | None = 1) -> dict[str, Any]:
    # Cohere answers best first, naming each document by its index in the request.
    ranked = sorted(range(len(scores)), key=lambda i: -scores[i])
    meta: dict[str, Any] = {"api_version": {"version": "2"}}
    if search_units is not None:
        meta["billed_units"] = {"search_units": search_units}
    return {
        "id": "rr-1",
        "results": [{"index": i, "relevance_score": scores[i]} for i in ranked],
        "meta": meta,
    }


def reranker(
    handler: Callable[[httpx.Request], httpx.Response], sleeps: list[float] | None = None
) -> CohereReranker:
    return CohereReranker(
        "rerank-v3.5",
        SETTINGS,
        max_retries=2,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=(sleeps if sleeps is not None else []).append,
    )


def test_scores_come_back_in_input_order_with_the_billed_units() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v2/rerank"
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
        body = json.loads(request.content)
        seen.append(body)
        return httpx.Response(200, json=rerank_reply([0.1, 0.9, 0.5], search_units=2))

    result = reranker(handler).rerank("printer toner", ["a", "b", "c"])

    assert result.scores == (0.1, 0.9, 0.5)
    assert (result.usage.model_id, result.usage.api_calls, result.usage.search_units) == ("rerank-v3.5", 1, 2)
    assert seen == [
        {"model": "rerank-v3.5", "query": "printer toner", "documents": ["a", "b", "c"], "top_n": 3}
    ]


def test_missing_billed_units_count_zero() -> None:
    result = reranker(lambda _: httpx.Response(200, json=rerank_reply([0.3], search_units=None))).rerank(
        "q", ["a"]
    )
    assert result.usage.search_units == 0


def test_rate_limits_are_retried_then_transient() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(429, headers={"Retry-After": "5"}, json={"message": "slow down"})

    with pytest.raises(TransientRerankerError, match="3 attempts"):
        reranker(handler, sleeps).rerank("q", ["a"])
    assert len(calls) == 3
    assert sleeps == [2.0, 2.0]  # Retry-After, capped: a search request must not wait long


def test_a_rejected_key_is_final_and_never_echoed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"message": f"invalid api token {API_KEY}"})

    with pytest.raises(RerankerError) as raised:
        reranker(handler).rerank("q", ["a"])
    assert not isinstance(raised.value, TransientRerankerError)
    assert API_KEY not in str(raised.value)


def test_scores_for_too_few_documents_are_an_error() -> None:
    reply = rerank_reply([0.9, 0.1])
    reply["results"] = reply["results"][:1]
    with pytest.raises(RerankerError, match="fewer"):
        reranker(lambda _: httpx.Response(200, json=reply)).rerank("q", ["a", "b"])


def test_no_key_is_a_clear_error_and_nothing_is_sent() -> None:
    with pytest.raises(RerankerError, match="KB_COHERE__API_KEY"):
        CohereReranker("rerank-v3.5", CohereSettings()).rerank("q", ["a"])


def test_empty_input_costs_nothing() -> None:
    result = reranker(lambda _: httpx.Response(500)).rerank("q", [])
    assert result.scores == () and result.usage.api_calls == 0


def test_search_units_are_priced_from_the_rate_table() -> None:
    assert rerank_genai_units("rerank-v3.5", 3) == pytest.approx(3 * 0.6046)
    assert rerank_genai_units("rerank-multilingual-v3.0", 1) == pytest.approx(0.6046)
    with pytest.raises(LookupError):
        rerank_genai_units("nope", 1)


def test_the_factory_builds_nothing_unless_asked() -> None:
    assert build_reranker(RerankSettings(), SETTINGS) is None
    built = build_reranker(RerankSettings(provider="cohere", model="rerank-multilingual-v3.0"), SETTINGS)
    assert isinstance(built, CohereReranker) and built.model_id == "rerank-multilingual-v3.0"
