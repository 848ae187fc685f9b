"""CohereEmbedder against a fake Cohere served at the httpx transport (the SDK and our code run for real)."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from kb_service.catalog import ModelSpec, get_model
from kb_service.config import CohereSettings
from kb_service.embedders.base import Embedder, EmbedderError, EmbeddingCall, TransientEmbedderError
from kb_service.embedders.cohere import CohereEmbedder
from kb_service.embedders.local import count_wordpiece_tokens

API_KEY = "test-key-7f3a9c"
BASE_URL = "https://cohere.test"
ENGLISH = "embed-english-v3.0"

Reply = Callable[[httpx.Request, dict[str, Any]], httpx.Response]


def marker_vector(text: str, dimension: int) -> list[float]:
    """A unit vector whose hot component encodes the number in 'text 17', so order is checkable."""
    vector = [0.0] * dimension
    vector[int(text.split()[-1]) % dimension] = 1.0
    return vector


def ok(billed: int | None = None, dimension: int = 1024) -> Reply:
    def reply(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        tokens = billed if billed is not None else 3 * len(body["texts"])
        return httpx.Response(
            200,
            json={
                "id": "resp-1",
                "embeddings": {"float": [marker_vector(t, dimension) for t in body["texts"]]},
                "texts": body["texts"],
                "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
                "response_type": "embeddings_by_type",
            },
        )

    return reply


def status(code: int, headers: dict[str, str] | None = None, message: str = "nope") -> Reply:
    def reply(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        return httpx.Response(code, headers=headers, json={"message": message})

    return reply


def raises(exc: type[httpx.TransportError]) -> Reply:
    def reply(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        raise exc("simulated", request=request)

    return reply


@dataclass
class FakeCohere:
    """Replies in script order; once the script runs out, the last reply repeats."""

    script: list[Reply]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.script[min(len(self.requests), len(self.script)) - 1]
        return reply(request, json.loads(request.content))

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


@dataclass
class Sleeps:
    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class CeilingRandom(random.Random):
    """Always draws the top of the range, so full-jitter sleeps equal their ceilings."""

    def random(self) -> float:
        return 1.0


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make(sleeps: Sleeps) -> Iterator[Callable[..., tuple[CohereEmbedder, FakeCohere]]]:
    clients: list[httpx.Client] = []

    def factory(
        *script: Reply,
        model: str = ENGLISH,
        api_key: str | None = API_KEY,
        max_retries: int = 3,
        max_backoff_s: float = 60.0,
        **kwargs: Any,
    ) -> tuple[CohereEmbedder, FakeCohere]:
        fake = FakeCohere(list(script) or [ok()])
        client = httpx.Client(transport=httpx.MockTransport(fake))
        clients.append(client)
        settings = CohereSettings(
            api_key=SecretStr(api_key) if api_key is not None else None,
            base_url=BASE_URL,
            max_retries=max_retries,
            max_backoff_s=max_backoff_s,
        )
        embedder = CohereEmbedder(get_model(model), settings, http_client=client, sleep=sleeps, **kwargs)
        return embedder, fake

    yield factory
    for client in clients:
        client.close()


def texts(n: int) -> list[str]:
    return [f"text {i}" for i in range(n)]


def test_satisfies_the_embedder_port_with_dimension_and_window_from_the_spec(make: Any) -> None:
    embedder, _ = make(model="embed-multilingual-light-v3.0")
    assert isinstance(embedder, Embedder)
    assert (embedder.model_id, embedder.dimension, embedder.max_tokens) == (
        "embed-multilingual-light-v3.0",
        384,
        512,
    )


def test_request_names_model_texts_input_type_float_embeddings_and_truncation(make: Any) -> None:
    embedder, fake = make()
    embedder.embed(["text 0", "text 1"], "search_document")
    (request,) = fake.requests
    assert request.method == "POST"
    assert request.url == f"{BASE_URL}/v2/embed"
    assert fake.bodies[0] == {
        "model": ENGLISH,
        "texts": ["text 0", "text 1"],
        "input_type": "search_document",
        "embedding_types": ["float"],
        "truncate": "END",
    }


def test_query_input_type_is_passed_through(make: Any) -> None:
    embedder, fake = make()
    embedder.embed(["text 0"], "search_query")
    assert fake.bodies[0]["input_type"] == "search_query"


def test_truncate_mode_is_configurable(make: Any) -> None:
    embedder, fake = make(truncate="NONE")
    embedder.embed(["text 0"], "search_document")
    assert fake.bodies[0]["truncate"] == "NONE"


@pytest.mark.parametrize("n", [1, 95, 96, 97, 250])
def test_texts_go_out_96_per_call_and_vectors_come_back_in_order(make: Any, n: int) -> None:
    embedder, fake = make()
    inputs = texts(n)
    result = embedder.embed(inputs, "search_document")

    assert len(fake.requests) == math.ceil(n / 96)
    assert all(len(body["texts"]) <= 96 for body in fake.bodies)
    assert [t for body in fake.bodies for t in body["texts"]] == inputs
    assert result.vectors.shape == (n, 1024)
    assert result.vectors.dtype == np.float32
    assert list(np.argmax(result.vectors, axis=1)) == list(range(n))
    assert len(result.calls) == len(fake.requests)


def test_each_call_is_metered_with_exactly_the_billed_input_tokens(make: Any) -> None:
    embedder, _ = make(ok(billed=1234), ok(billed=56))
    result = embedder.embed(texts(100), "search_document")
    assert result.calls == (EmbeddingCall(input_tokens=1234), EmbeddingCall(input_tokens=56))
    assert result.input_tokens == 1290


def test_response_without_billed_units_meters_zero_tokens(make: Any) -> None:
    def no_meta(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        floats = [marker_vector(t, 1024) for t in body["texts"]]
        return httpx.Response(200, json={"id": "r", "embeddings": {"float": floats}})

    embedder, _ = make(no_meta)
    assert embedder.embed(["text 0"], "search_document").calls == (EmbeddingCall(input_tokens=0),)


def test_vectors_are_l2_normalised_even_when_cohere_returns_longer_ones(make: Any) -> None:
    def long_vectors(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        floats = [[3.0, 4.0] + [0.0] * 1022 for _ in body["texts"]]
        return httpx.Response(200, json={"id": "r", "embeddings": {"float": floats}})

    embedder, _ = make(long_vectors)
    vectors = embedder.embed(["text 0", "text 1"], "search_document").vectors
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(vectors[0, :2], [0.6, 0.8], rtol=1e-6)


def test_429_with_retry_after_is_retried_after_that_delay_and_metered_once(make: Any, sleeps: Sleeps) -> None:
    embedder, fake = make(status(429, {"Retry-After": "7"}), ok(billed=42))
    result = embedder.embed(["text 0"], "search_document")
    assert len(fake.requests) == 2
    assert sleeps.calls == [7.0]
    assert result.calls == (EmbeddingCall(input_tokens=42),)


def test_retry_after_longer_than_max_backoff_is_capped(make: Any, sleeps: Sleeps) -> None:
    embedder, _ = make(status(429, {"Retry-After": "3600"}), ok(), max_backoff_s=30.0)
    embedder.embed(["text 0"], "search_document")
    assert sleeps.calls == [30.0]


def test_retry_after_as_http_date_is_honoured(make: Any, sleeps: Sleeps) -> None:
    future = "Fri, 01 Jan 2100 00:00:00 GMT"
    past = "Wed, 21 Oct 2015 07:28:00 GMT"
    embedder, _ = make(status(429, {"Retry-After": future}), status(503, {"Retry-After": past}), ok())
    embedder.embed(["text 0"], "search_document")
    assert sleeps.calls == [60.0, 0.0]


def test_server_errors_back_off_exponentially_with_full_jitter(make: Any, sleeps: Sleeps) -> None:
    embedder, _ = make(status(503), max_retries=4, base_backoff_s=0.5, rng=CeilingRandom())
    with pytest.raises(TransientEmbedderError):
        embedder.embed(["text 0"], "search_document")
    assert sleeps.calls == [0.5, 1.0, 2.0, 4.0]


def test_jittered_backoff_never_exceeds_max_backoff(make: Any, sleeps: Sleeps) -> None:
    embedder, _ = make(status(500), max_retries=8, max_backoff_s=5.0, rng=random.Random(7))
    with pytest.raises(TransientEmbedderError):
        embedder.embed(["text 0"], "search_document")
    assert len(sleeps.calls) == 8
    assert all(0.0 <= s <= min(5.0, 2**i) for i, s in enumerate(sleeps.calls))


def test_persistent_503_raises_transient_error_after_max_retries(make: Any, sleeps: Sleeps) -> None:
    embedder, fake = make(status(503), max_retries=3)
    with pytest.raises(TransientEmbedderError, match=r"after 4 attempts \(HTTP 503\)") as caught:
        embedder.embed(["text 0"], "search_document")
    assert len(fake.requests) == 4
    assert len(sleeps.calls) == 3
    assert caught.value.retry_after_s is None


def test_persistent_429_reports_retry_after_to_the_caller(make: Any) -> None:
    embedder, _ = make(status(429, {"Retry-After": "120"}), max_retries=1)
    with pytest.raises(TransientEmbedderError) as caught:
        embedder.embed(["text 0"], "search_document")
    assert caught.value.retry_after_s == 120.0


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.ConnectError, httpx.RemoteProtocolError])
def test_timeouts_and_connection_errors_are_retried(make: Any, error: type[httpx.TransportError]) -> None:
    embedder, fake = make(raises(error), ok(billed=9))
    result = embedder.embed(["text 0"], "search_document")
    assert len(fake.requests) == 2
    assert result.calls == (EmbeddingCall(input_tokens=9),)


def test_persistent_timeouts_raise_transient_error(make: Any) -> None:
    embedder, fake = make(raises(httpx.ConnectTimeout), max_retries=2)
    with pytest.raises(TransientEmbedderError, match="ConnectTimeout"):
        embedder.embed(["text 0"], "search_document")
    assert len(fake.requests) == 3


def test_rejected_key_fails_at_once_without_retrying(make: Any, sleeps: Sleeps) -> None:
    embedder, fake = make(status(401, message="invalid api token"))
    with pytest.raises(EmbedderError) as caught:
        embedder.embed(["text 0"], "search_document")
    assert not isinstance(caught.value, TransientEmbedderError)
    assert str(caught.value) == "Cohere rejected the API key (HTTP 401)"
    assert len(fake.requests) == 1
    assert sleeps.calls == []


@pytest.mark.parametrize("code", [400, 403, 404, 422])
def test_client_errors_are_final_and_quote_cohere_s_message(make: Any, code: int) -> None:
    embedder, fake = make(status(code, message="invalid request: model 'x' not found"))
    with pytest.raises(EmbedderError) as caught:
        embedder.embed(["text 0"], "search_document")
    assert not isinstance(caught.value, TransientEmbedderError)
    assert f"(HTTP {code}): invalid request: model 'x' not found" in str(caught.value)
    assert len(fake.requests) == 1


def test_long_error_messages_are_truncated(make: Any) -> None:
    embedder, _ = make(status(400, message="x" * 5000))
    with pytest.raises(EmbedderError) as caught:
        embedder.embed(["text 0"], "search_document")
    assert len(str(caught.value)) < 300


def test_api_key_travels_only_in_the_authorization_header(make: Any) -> None:
    embedder, fake = make(status(429), ok())
    embedder.embed(["text 0"], "search_document")
    for request in fake.requests:
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
        others = {k: v for k, v in request.headers.items() if k != "authorization"}
        assert API_KEY not in json.dumps(others)
        assert API_KEY not in request.content.decode()
        assert API_KEY not in str(request.url)


@pytest.mark.parametrize(
    "reply",
    [
        status(401),
        status(400, message=f"bad key {API_KEY} and text secret-chunk-text"),
        status(503),
        raises(httpx.ReadTimeout),
    ],
)
def test_errors_and_logs_never_contain_the_key_or_the_texts(make: Any, reply: Reply) -> None:
    embedder, _ = make(reply, max_retries=1)
    with capture_logs() as logs, pytest.raises(EmbedderError) as caught:
        embedder.embed(["confidential chunk body"], "search_document")
    exc: BaseException | None = caught.value
    while exc is not None:  # the whole chain a traceback would print
        assert API_KEY not in str(exc)
        assert "confidential chunk body" not in str(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    assert API_KEY not in repr(logs)
    assert "confidential chunk body" not in repr(logs)


def test_missing_api_key_is_reported_without_a_request(make: Any) -> None:
    embedder, fake = make(api_key=None)
    with pytest.raises(EmbedderError, match=r"Cohere API key is not configured \(KB_COHERE__API_KEY\)"):
        embedder.embed(["text 0"], "search_document")
    assert fake.requests == []


def test_wrong_vector_count_is_an_error(make: Any) -> None:
    def one_short(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        floats = [marker_vector(t, 1024) for t in body["texts"][:-1]]
        return httpx.Response(200, json={"id": "r", "embeddings": {"float": floats}})

    embedder, _ = make(one_short)
    with pytest.raises(EmbedderError, match="1 embeddings for 2 texts"):
        embedder.embed(["text 0", "text 1"], "search_document")


def test_wrong_dimension_is_an_error(make: Any) -> None:
    embedder, _ = make(ok(dimension=1024), model="embed-english-light-v3.0")
    with pytest.raises(EmbedderError, match="1024-dimensional"):
        embedder.embed(["text 0"], "search_document")


def test_unparseable_success_body_is_an_error(make: Any) -> None:
    def garbage(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        return httpx.Response(200, content=b"<html>proxy</html>")

    embedder, _ = make(garbage)
    with pytest.raises(EmbedderError, match="unreadable"):
        embedder.embed(["text 0"], "search_document")


def test_empty_input_makes_no_call(make: Any) -> None:
    embedder, fake = make()
    result = embedder.embed([], "search_document")
    assert result.vectors.shape == (0, 1024)
    assert result.calls == ()
    assert fake.requests == []


def test_empty_text_is_rejected_before_any_call(make: Any) -> None:
    embedder, fake = make()
    with pytest.raises(EmbedderError, match="text 1 is empty"):
        embedder.embed(["text 0", "   "], "search_document")
    assert fake.requests == []


def test_token_count_is_the_bundled_wordpiece_count(make: Any) -> None:
    embedder, _ = make()
    text = "Retrieval-augmented generation grounds answers in documents."
    assert embedder.count_tokens(text) == count_wordpiece_tokens(text)
    assert embedder.count_tokens(text) > len(text.split())


def test_non_cohere_model_is_refused() -> None:
    spec: ModelSpec = get_model("all-minilm-l6-v2")
    with pytest.raises(ValueError, match="not a Cohere embedding model"):
        CohereEmbedder(spec, CohereSettings(api_key=SecretStr(API_KEY)))
