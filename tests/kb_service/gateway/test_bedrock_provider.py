"""The Bedrock provider against a loopback Bedrock Runtime (real HTTP, SigV4, AWS event-stream)."""

from __future__ import annotations

import binascii
import json
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest

from kb_service.gateway.providers.base import (
    ChatMessage,
    ProviderAuthFailed,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
    StreamEnd,
    TextDelta,
    TextRequest,
)
from kb_service.gateway.providers.bedrock import BedrockTextProvider
from kb_service.gateway.providers.model_ids import bedrock_model_id
from kb_service.gateway.providers.retry import RetryPolicy

SECRET_PROMPT = "the secret plan is pineapple"
REQUEST = TextRequest(
    model_id="anthropic.claude-haiku-4-5",
    messages=(ChatMessage("system", "Be terse."), ChatMessage("user", SECRET_PROMPT)),
    max_tokens=50,
    top_p=0.9,
    stop=("END",),
    region="eu-central-1",
)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    path: str
    body: dict[str, object]
    authorization: str


def event_frame(event_type: str, payload: dict[str, object]) -> bytes:
    """One AWS event-stream message (prelude, string headers, JSON payload, CRCs)."""
    headers = b""
    for name, value in (
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ):
        encoded = value.encode()
        headers += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(encoded)) + encoded
    body = json.dumps(payload).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack(">I", binascii.crc32(message))


def json_reply(payload: dict[str, object]) -> Reply:
    return Reply(200, json.dumps(payload).encode(), {"content-type": "application/json"})


def error_reply(status: int, code: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        status,
        json.dumps({"message": "nope"}).encode(),
        {
            "content-type": "application/json",
            "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/",
            **(headers or {}),
        },
    )


def stream_reply(frames: list[bytes]) -> Reply:
    return Reply(200, b"".join(frames), {"content-type": "application/vnd.amazon.eventstream"})


class FakeBedrock:
    def __init__(self) -> None:
        self.answer: Callable[[str], Reply] = lambda _path: error_reply(500, "InternalServerException")
        self.seen: list[Seen] = []
        self.sleeps: list[float] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                path = unquote(self.path)
                fake.seen.append(Seen(path, body, self.headers.get("authorization", "")))
                reply = fake.answer(path)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def provider(self, *, max_retries: int = 2, max_backoff_s: float = 20.0) -> BedrockTextProvider:
        return BedrockTextProvider(
            default_region="eu-central-1",
            access_key_id="AKIDTEST",
            secret_access_key="secret-test",
            endpoint_url=self.url,
            timeout=5.0,
            retry_policy=RetryPolicy(
                max_retries=max_retries, max_backoff_s=max_backoff_s, sleep=self.sleeps.append
            ),
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def bedrock() -> Iterator[FakeBedrock]:
    fake = FakeBedrock()
    yield fake
    fake.close()


def test_converse_maps_the_model_and_returns_bedrocks_usage(bedrock: FakeBedrock) -> None:
    bedrock.answer = lambda _path: json_reply(
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "Hi "}, {"text": "there"}]}},
            "stopReason": "max_tokens",
            "usage": {"inputTokens": 17, "outputTokens": 50, "totalTokens": 67},
            "metrics": {"latencyMs": 12},
        }
    )

    result = bedrock.provider().complete(REQUEST)

    assert result.text == "Hi there"
    assert result.stop_reason == "max_tokens"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (17, 50)
    seen = bedrock.seen[0]
    assert seen.path == "/model/anthropic.claude-haiku-4-5-20251001-v1:0/converse"
    assert seen.body["system"] == [{"text": "Be terse."}]
    assert seen.body["messages"] == [{"role": "user", "content": [{"text": SECRET_PROMPT}]}]
    assert seen.body["inferenceConfig"] == {"maxTokens": 50, "topP": 0.9, "stopSequences": ["END"]}
    assert "Credential=AKIDTEST/" in seen.authorization
    assert "/eu-central-1/bedrock/" in seen.authorization


def test_converse_with_cri_uses_the_regions_inference_profile(bedrock: FakeBedrock) -> None:
    bedrock.answer = lambda _path: json_reply(
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
        }
    )
    request = TextRequest(
        "anthropic.claude-sonnet-4-5",
        REQUEST.messages,
        max_tokens=5,
        region="ca-central-1",
        cross_region_inference=True,
    )

    bedrock.provider().complete(request)

    assert bedrock.seen[0].path == "/model/ca.anthropic.claude-sonnet-4-5-20250929-v1:0/converse"
    assert "/ca-central-1/bedrock/" in bedrock.seen[0].authorization


def test_converse_stream_yields_deltas_then_the_metadata_usage(bedrock: FakeBedrock) -> None:
    bedrock.answer = lambda _path: stream_reply(
        [
            event_frame("messageStart", {"role": "assistant"}),
            event_frame("contentBlockDelta", {"delta": {"text": "Hel"}, "contentBlockIndex": 0}),
            event_frame("contentBlockDelta", {"delta": {"text": "lo"}, "contentBlockIndex": 0}),
            event_frame("contentBlockStop", {"contentBlockIndex": 0}),
            event_frame("messageStop", {"stopReason": "stop_sequence"}),
            event_frame(
                "metadata",
                {
                    "usage": {"inputTokens": 40, "outputTokens": 2, "totalTokens": 42},
                    "metrics": {"latencyMs": 5},
                },
            ),
        ]
    )

    got = list(bedrock.provider().stream(REQUEST))

    assert got == [TextDelta("Hel"), TextDelta("lo"), StreamEnd("stop_sequence", got[-1].usage)]  # type: ignore[union-attr]
    end = got[-1]
    assert isinstance(end, StreamEnd)
    assert (end.usage.input_tokens, end.usage.output_tokens) == (40, 2)
    assert bedrock.seen[0].path == "/model/anthropic.claude-haiku-4-5-20251001-v1:0/converse-stream"


def test_throttling_retries_then_raises_rate_limited(bedrock: FakeBedrock) -> None:
    bedrock.answer = lambda _path: error_reply(429, "ThrottlingException", {"retry-after": "2"})

    with pytest.raises(ProviderRateLimited) as caught:
        bedrock.provider(max_retries=2).complete(REQUEST)

    assert len(bedrock.seen) == 3
    assert bedrock.sleeps == [2.0, 2.0]
    assert caught.value.retry_after_s == 2.0
    assert caught.value.provider == "bedrock"
    assert SECRET_PROMPT not in str(caught.value)


def test_throttling_without_retry_after_backs_off_within_the_cap(bedrock: FakeBedrock) -> None:
    bedrock.answer = lambda _path: error_reply(429, "ThrottlingException")

    with pytest.raises(ProviderRateLimited) as caught:
        list(bedrock.provider(max_retries=3, max_backoff_s=0.7).stream(REQUEST))

    assert len(bedrock.seen) == 4
    assert len(bedrock.sleeps) == 3
    assert all(0 <= s <= 0.7 for s in bedrock.sleeps)
    assert caught.value.retry_after_s is None


@pytest.mark.parametrize(
    ("status", "code"), [(500, "InternalServerException"), (503, "ServiceUnavailableException")]
)
def test_server_errors_retry_then_raise_unavailable(bedrock: FakeBedrock, status: int, code: str) -> None:
    bedrock.answer = lambda _path: error_reply(status, code)

    with pytest.raises(ProviderUnavailable):
        bedrock.provider(max_retries=1).complete(REQUEST)
    assert len(bedrock.seen) == 2


@pytest.mark.parametrize(
    ("status", "code"), [(403, "UnrecognizedClientException"), (403, "AccessDeniedException")]
)
def test_bad_credentials_fail_after_one_call(bedrock: FakeBedrock, status: int, code: str) -> None:
    bedrock.answer = lambda _path: error_reply(status, code)

    with pytest.raises(ProviderAuthFailed) as caught:
        bedrock.provider(max_retries=5).complete(REQUEST)

    assert len(bedrock.seen) == 1
    assert bedrock.sleeps == []
    assert "secret-test" not in str(caught.value)


def test_validation_error_is_rejected_without_retry(bedrock: FakeBedrock) -> None:
    bedrock.answer = lambda _path: error_reply(400, "ValidationException")

    with pytest.raises(ProviderRejected):
        bedrock.provider().complete(REQUEST)
    assert len(bedrock.seen) == 1


def test_error_event_inside_the_stream_is_unavailable(bedrock: FakeBedrock) -> None:
    bedrock.answer = lambda _path: stream_reply(
        [
            event_frame("messageStart", {"role": "assistant"}),
            event_frame("contentBlockDelta", {"delta": {"text": "Hel"}, "contentBlockIndex": 0}),
            _exception_frame("modelStreamErrorException"),
        ]
    )

    events = bedrock.provider().stream(REQUEST)
    assert next(events) == TextDelta("Hel")
    with pytest.raises(ProviderUnavailable):
        next(events)


def _exception_frame(code: str) -> bytes:
    headers = b""
    for name, value in (
        (":exception-type", code),
        (":content-type", "application/json"),
        (":message-type", "exception"),
    ):
        encoded = value.encode()
        headers += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(encoded)) + encoded
    body = json.dumps({"message": "boom"}).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack(">I", binascii.crc32(message))


@pytest.mark.parametrize(
    ("model_id", "region", "cri", "expected"),
    [
        ("anthropic.claude-haiku-4-5", "eu-central-1", False, "anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("anthropic.claude-haiku-4-5", "eu-central-1", True, "eu.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("anthropic.claude-sonnet-4-5", "ca-central-1", True, "ca.anthropic.claude-sonnet-4-5-20250929-v1:0"),
        ("anthropic.claude-sonnet-4-6", "eu-central-1", True, "eu.anthropic.claude-sonnet-4-6"),
        ("anthropic.claude-opus-4-1", "us-east-1", True, "us.anthropic.claude-opus-4-1-20250805-v1:0"),
        ("anthropic.claude-opus-4-1", "ca-central-1", False, "anthropic.claude-opus-4-1-20250805-v1:0"),
    ],
)
def test_bedrock_model_ids_and_inference_profiles(
    model_id: str, region: str, cri: bool, expected: str
) -> None:
    assert bedrock_model_id(model_id, region, cross_region_inference=cri) == expected


def test_unknown_model_and_region_are_rejected() -> None:
    with pytest.raises(ProviderRejected):
        bedrock_model_id("all-minilm-l6-v2", "eu-central-1", cross_region_inference=False)
    with pytest.raises(ProviderRejected):
        bedrock_model_id("anthropic.claude-haiku-4-5", "sa-east-1", cross_region_inference=True)
