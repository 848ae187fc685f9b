"""Claude through the Anthropic Messages API, with the official ``anthropic`` SDK.

The SDK is built with ``max_retries=0``: its own policy sleeps whatever Retry-After asks (up to
days), so retries are ours (`call_with_retries`), bounded and capped. ``http_client`` is handed to
the SDK, which requires an ``httpx2.Client`` (the SDK's HTTP library); tests give it one with an
``httpx2.MockTransport``.

Usage is the API's own: ``usage.input_tokens`` / ``output_tokens`` of the message, and for a
stream the ``message_start`` figures updated by ``message_delta`` (cumulative, so the last wins;
each is passed on as a `UsageReport`, so a stream cut by the caller is metered from what arrived).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, cast

import anthropic
import httpx2
from anthropic.types import MessageParam, RawMessageStreamEvent, TextBlockParam

from kb_service.gateway.providers.base import (
    ProviderAuthFailed,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    StopReason,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TextRequest,
    TextResult,
    TextUsage,
    UsageReport,
    claude_stop_reason,
)
from kb_service.gateway.providers.model_ids import provider_model_id
from kb_service.gateway.providers.retry import RetryPolicy, call_with_retries

NAME: Final = "anthropic"


def classify_error(exc: Exception) -> ProviderError | None:
    """SDK exception → port error. Messages carry statuses only, never request or response text."""
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        if isinstance(exc, anthropic.RateLimitError) or status == 429:
            return ProviderRateLimited(NAME, "rate limited (HTTP 429)", _retry_after_s(exc.response))
        if status in (401, 403):
            return ProviderAuthFailed(NAME, f"credentials refused (HTTP {status})")
        if status == 408 or status >= 500:
            return ProviderUnavailable(NAME, f"server error (HTTP {status})")
        if status == 200:
            # An `error` event inside a stream that had started (e.g. overloaded_error).
            return ProviderUnavailable(NAME, f"stream error ({exc.type or 'unknown'})")
        return ProviderRejected(NAME, f"request refused (HTTP {status}, {exc.type or 'error'})")
    if isinstance(exc, anthropic.APITimeoutError):
        return ProviderUnavailable(NAME, "timed out")
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderUnavailable(NAME, "connection failed")
    if isinstance(exc, anthropic.APIResponseValidationError):
        return ProviderUnavailable(NAME, "unreadable response")
    return None


def _retry_after_s(response: httpx2.Response) -> float | None:
    for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = response.headers.get(header)
        if value is None:
            continue
        try:
            return max(float(value) * scale, 0.0)
        except ValueError:
            continue  # an HTTP date: rare from this API, fall back to our backoff
    return None


class AnthropicTextProvider:
    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        max_backoff_s: float = 20.0,
        http_client: httpx2.Client | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        # base_url is passed even when None would do: the SDK's default would read
        # ANTHROPIC_BASE_URL from the environment, and settings are the only source of configuration.
        self._client = anthropic.Anthropic(
            api_key=api_key,
            base_url=base_url or "https://api.anthropic.com",
            timeout=timeout,
            max_retries=0,
            http_client=http_client,
        )
        self._policy = retry_policy or RetryPolicy(max_retries=max_retries, max_backoff_s=max_backoff_s)

    @property
    def name(self) -> str:
        return NAME

    def complete(self, request: TextRequest) -> TextResult:
        params = self._params(request)
        message = call_with_retries(
            NAME, lambda: self._client.messages.create(**params), classify_error, self._policy
        )
        text = "".join(block.text for block in message.content if block.type == "text")
        usage = TextUsage(message.usage.input_tokens, message.usage.output_tokens)
        return TextResult(text=text, stop_reason=claude_stop_reason(message.stop_reason), usage=usage)

    def stream(self, request: TextRequest) -> Iterator[StreamEvent]:
        params = self._params(request)
        # Only opening the stream is retried: once text has gone to the caller a retry would repeat it.
        events = call_with_retries(
            NAME, lambda: self._client.messages.create(**params, stream=True), classify_error, self._policy
        )
        return self._translate(events)

    def _translate(self, events: anthropic.Stream[RawMessageStreamEvent]) -> Iterator[StreamEvent]:
        input_tokens = output_tokens = 0
        stop_reason: StopReason = "end_turn"
        try:
            for event in events:
                if event.type == "message_start":
                    input_tokens = event.message.usage.input_tokens
                    output_tokens = event.message.usage.output_tokens
                    yield UsageReport(TextUsage(input_tokens, output_tokens))
                elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                    yield TextDelta(event.delta.text)
                elif event.type == "message_delta":
                    stop_reason = claude_stop_reason(event.delta.stop_reason)
                    output_tokens = event.usage.output_tokens
                    if event.usage.input_tokens is not None:
                        input_tokens = event.usage.input_tokens
                    yield UsageReport(TextUsage(input_tokens, output_tokens))
                elif event.type == "message_stop":
                    yield StreamEnd(stop_reason, TextUsage(input_tokens, output_tokens))
                    return
        except Exception as exc:
            error = classify_error(exc)
            if error is None:
                raise
            raise error from exc
        finally:
            events.close()
        raise ProviderUnavailable(NAME, "stream ended without message_stop")

    def _params(self, request: TextRequest) -> dict[str, Any]:
        system = [m.content for m in request.messages if m.role == "system"]
        messages = [
            cast(MessageParam, {"role": m.role, "content": m.content})
            for m in request.messages
            if m.role != "system"
        ]
        params: dict[str, Any] = {
            "model": provider_model_id(NAME, request.model_id),
            "max_tokens": request.max_tokens,
            "messages": messages,
        }
        if system:
            blocks: list[TextBlockParam] = [{"type": "text", "text": text} for text in system]
            params["system"] = blocks
        # This SDK release no longer declares temperature / top_p (newer Claude models refuse them);
        # the catalog's models accept them, so they go in the body as the API documents them.
        sampling = {
            name: value
            for name, value in (("temperature", request.temperature), ("top_p", request.top_p))
            if value is not None
        }
        if sampling:
            params["extra_body"] = sampling
        if request.stop:
            params["stop_sequences"] = list(request.stop)
        return params
