"""The retry policy and the typed errors, at the client's own HTTP boundary: answers scripted by an
httpx mock transport (the live tests cover the real server's answers)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from kb_service.client import (
    AsyncKBClient,
    CapacityExhausted,
    InvalidInput,
    KBClient,
    NotFound,
    RetryPolicy,
    ServiceUnavailable,
)
from kb_service.client._base import retry_after

FAST = RetryPolicy(max_retries=3, max_wait=5.0, backoff=0.0)
COLLECTIONS = [{"name": "default", "is_default": True, "document_count": 0, "chunk_count": 0,
                "created_at": "2026-01-01T00:00:00Z"}]  # fmt: skip


def _scripted(answers: list[httpx.Response], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    return httpx.MockTransport(handle)


def _error(
    status: int, code: str, headers: dict[str, str] | None = None, **details: object
) -> httpx.Response:
    body = {"error": {"code": code, "message": f"{code} happened", "details": details}}
    return httpx.Response(status, json=body, headers=headers)


def test_503_with_retry_after_is_retried_until_it_succeeds() -> None:
    seen: list[httpx.Request] = []
    answers = [
        _error(503, "upstream_unavailable", {"Retry-After": "0"}),
        _error(503, "upstream_unavailable"),  # no header: exponential backoff
        httpx.Response(200, json=COLLECTIONS),
    ]
    with KBClient("http://kb.test", "kb_x_y", retry=FAST, transport=_scripted(answers, seen)) as kb:
        collections = kb.list_collections("kb1")
    assert [c.name for c in collections] == ["default"]
    assert len(seen) == 3
    assert seen[0].headers["authorization"] == "Bearer kb_x_y"


def test_retries_are_bounded() -> None:
    seen: list[httpx.Request] = []
    answers = [_error(503, "upstream_unavailable", {"Retry-After": "0"}) for _ in range(4)]
    kb = KBClient("http://kb.test", "k", retry=FAST, transport=_scripted(answers, seen))
    with kb, pytest.raises(ServiceUnavailable) as raised:
        kb.list_collections("kb1")
    assert len(seen) == 4  # the first attempt and three retries
    assert raised.value.status_code == 503 and raised.value.code == "upstream_unavailable"


def test_a_retry_after_beyond_the_bound_is_raised_at_once() -> None:
    seen: list[httpx.Request] = []
    answers = [_error(429, "capacity_exhausted", {"Retry-After": "86400"}, resource_id="r1")]
    kb = KBClient("http://kb.test", "k", retry=FAST, transport=_scripted(answers, seen))
    with kb, pytest.raises(CapacityExhausted) as raised:
        kb.search("kb1", "question")
    assert len(seen) == 1
    assert raised.value.details == {"resource_id": "r1"}


def test_errors_carry_our_body_and_the_field() -> None:
    seen: list[httpx.Request] = []
    answers = [
        _error(422, "invalid_input", errors=[{"field": "body.max_results", "problem": "too big"}]),
        _error(404, "not_found", field="document_id"),
    ]
    with KBClient("http://kb.test", "k", retry=FAST, transport=_scripted(answers, seen)) as kb:
        with pytest.raises(InvalidInput) as invalid:
            kb.search("kb1", "q", max_results=1000)
        with pytest.raises(NotFound) as missing:
            kb.get_document("kb1", "d1")
    assert invalid.value.field == "body.max_results"
    assert json.loads(seen[0].content) == {"query": "q", "max_results": 1000}
    assert missing.value.field == "document_id" and missing.value.message == "not_found happened"


def test_the_async_client_retries_the_same_way() -> None:
    seen: list[httpx.Request] = []
    answers = [
        _error(503, "upstream_unavailable", {"Retry-After": "0"}),
        httpx.Response(200, json=COLLECTIONS),
    ]

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    async def run() -> list[str]:
        async with AsyncKBClient(
            "http://kb.test", "k", retry=FAST, transport=httpx.MockTransport(handle)
        ) as kb:
            return [c.name for c in await kb.list_collections("kb1")]

    assert asyncio.run(run()) == ["default"]
    assert len(seen) == 2


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after(httpx.Response(503, headers={"Retry-After": "2"})) == 2.0
    assert retry_after(httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after(httpx.Response(503, headers={"Retry-After": "soon"})) is None
    assert retry_after(httpx.Response(503)) is None
