"""The Anthropic provider against a fake Messages API at the SDK's HTTP transport."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx2
import pytest

from kb_service.gateway.providers.anthropic import AnthropicTextProvider
from kb_service.gateway.providers.base import (
    ChatMessage,
    ProviderAuthFailed,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    StreamEnd,
    TextDelta,
    TextRequest,
    TextUsage,
    UsageReport,
)
from kb_service.gateway.providers.retry import RetryPolicy

SECRET_PROMPT = "the secret plan is pineapple"
REQUEST = TextRequest(
    model_id="anthropic.claude-sonnet-4-5",
    messages=(ChatMessage("system", "Be terse."), ChatMessage("user", SECRET_PROMPT)),
    max_tokens=64,
    temperature=0.2,
    stop=("END",),
)

Handler = Callable[[httpx2.Request], httpx2.Response]


class FakeAnthropic:
    """Counts calls and answers with `handler`; the requests are kept for assertions."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx2.Request] = []
        self.sleeps: list[float] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return self.handler(request)

    def provider(self, *, max_retries: int = 2, max_backoff_s: float = 20.0) -> AnthropicTextProvider:
        policy = RetryPolicy(max_retries=max_retries, max_backoff_s=max_backoff_s, sleep=self.sleeps.append)
        return AnthropicTextProvider(
            "sk-test",
            base_url="http://anthropic.test",
            http_client=httpx2.Client(transport=httpx2.MockTransport(self)),
            retry_policy=policy,
        )


def _message(text: str = "Hello there", stop_reason: str = "end_turn") -> httpx2.Response:
    return httpx2.Response(
        200,
        json={
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [{"type": "text", "text": text}],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 21, "output_tokens": 5},
        },
    )


def _sse(events: list[dict[str, object]]) -> httpx2.Response:
    body = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())


def _error(status: int, error_type: str, headers: dict[str, str] | None = None) -> httpx2.Response:
    body = {"type": "error", "error": {"type": error_type, "message": "nope"}}
    return httpx2.Response(status, json=body, headers=headers or {})


def test_complete_maps_the_model_and_returns_the_apis_usage() -> None:
    fake = FakeAnthropic(lambda _: _message(stop_reason="stop_sequence"))

    result = fake.provider().complete(REQUEST)

    assert result.text == "Hello there"
    assert result.stop_reason == "stop_sequence"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (21, 5)
    sent = json.loads(fake.requests[0].content)
    assert sent["model"] == "claude-sonnet-4-5-20250929"
    assert sent["system"] == [{"type": "text", "text": "Be terse."}]
    assert sent["messages"] == [{"role": "user", "content": SECRET_PROMPT}]
    assert sent["stop_sequences"] == ["END"]
    assert sent["temperature"] == 0.2
    assert "top_p" not in sent
    headers = fake.requests[0].headers
    assert "sk-test" in headers.get("x-api-key", "") + headers.get("authorization", "")


def test_stream_yields_deltas_then_the_final_usage_of_message_delta() -> None:
    events: list[dict[str, object]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5-20250929",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 30, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
            "usage": {"output_tokens": 64},
        },
        {"type": "message_stop"},
    ]
    fake = FakeAnthropic(lambda _: _sse(events))

    got = list(fake.provider().stream(REQUEST))

    assert [e for e in got if not isinstance(e, UsageReport)][:-1] == [TextDelta("Hel"), TextDelta("lo")]
    reports = [e.usage for e in got if isinstance(e, UsageReport)]
    assert reports == [TextUsage(30, 1), TextUsage(30, 64)]
    end = got[-1]
    assert isinstance(end, StreamEnd)
    assert end.stop_reason == "max_tokens"
    assert (end.usage.input_tokens, end.usage.output_tokens) == (30, 64)
    assert json.loads(fake.requests[0].content)["stream"] is True


def test_429_retries_as_retry_after_says_then_raises_rate_limited() -> None:
    fake = FakeAnthropic(lambda _: _error(429, "rate_limit_error", {"retry-after": "3"}))

    with pytest.raises(ProviderRateLimited) as caught:
        fake.provider(max_retries=2).complete(REQUEST)

    assert len(fake.requests) == 3
    assert fake.sleeps == [3.0, 3.0]
    assert caught.value.retry_after_s == 3.0
    assert caught.value.provider == "anthropic"
    assert SECRET_PROMPT not in str(caught.value)


def test_retry_after_sleep_is_capped() -> None:
    fake = FakeAnthropic(lambda _: _error(429, "rate_limit_error", {"retry-after": "3600"}))

    with pytest.raises(ProviderRateLimited):
        fake.provider(max_retries=1, max_backoff_s=5.0).complete(REQUEST)

    assert fake.sleeps == [5.0]


def test_429_then_success_returns_the_answer() -> None:
    answers = iter([_error(429, "rate_limit_error", {"retry-after": "1"}), _message()])
    fake = FakeAnthropic(lambda _: next(answers))

    assert fake.provider().complete(REQUEST).text == "Hello there"
    assert len(fake.requests) == 2


@pytest.mark.parametrize("status", [500, 503, 529])
def test_server_errors_retry_then_raise_unavailable(status: int) -> None:
    fake = FakeAnthropic(lambda _: _error(status, "api_error"))

    with pytest.raises(ProviderUnavailable):
        fake.provider(max_retries=2).complete(REQUEST)

    assert len(fake.requests) == 3


def test_timeout_is_unavailable() -> None:
    def timeout(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("slow", request=request)

    fake = FakeAnthropic(timeout)

    with pytest.raises(ProviderUnavailable):
        fake.provider(max_retries=1).complete(REQUEST)
    assert len(fake.requests) == 2


@pytest.mark.parametrize(("status", "error_type"), [(401, "authentication_error"), (403, "permission_error")])
def test_bad_key_fails_after_one_call(status: int, error_type: str) -> None:
    fake = FakeAnthropic(lambda _: _error(status, error_type))

    with pytest.raises(ProviderAuthFailed) as caught:
        fake.provider(max_retries=5).complete(REQUEST)

    assert len(fake.requests) == 1
    assert fake.sleeps == []
    assert "sk-test" not in str(caught.value)


def test_bad_key_on_a_stream_fails_after_one_call() -> None:
    fake = FakeAnthropic(lambda _: _error(401, "authentication_error"))

    with pytest.raises(ProviderAuthFailed):
        list(fake.provider(max_retries=5).stream(REQUEST))
    assert len(fake.requests) == 1


def test_bad_request_is_rejected_without_retry() -> None:
    fake = FakeAnthropic(lambda _: _error(400, "invalid_request_error"))

    with pytest.raises(ProviderRejected):
        fake.provider().complete(REQUEST)
    assert len(fake.requests) == 1


def test_model_without_an_anthropic_name_is_rejected_before_any_call() -> None:
    fake = FakeAnthropic(lambda _: _message())

    with pytest.raises(ProviderRejected):
        fake.provider().complete(TextRequest("embed-english-v3.0", REQUEST.messages, max_tokens=5))
    assert fake.requests == []


def test_error_event_mid_stream_is_unavailable() -> None:
    events: list[dict[str, object]] = [
        {
            "type": "message_start",
            "message": {
                "id": "m",
                "type": "message",
                "role": "assistant",
                "model": "x",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 3, "output_tokens": 1},
            },
        },
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    ]
    fake = FakeAnthropic(lambda _: _sse(events))

    with pytest.raises(ProviderUnavailable):
        list(fake.provider().stream(REQUEST))
