"""`/v1/models` and `/v1/chat/completions` with the official `openai` client over HTTP; Claude is the
Anthropic API faked at the provider SDK's transport. Metering is read back from the consumption API."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
import openai
import pytest
from fastapi.testclient import TestClient
from openai.types.chat import ChatCompletionMessageParam

from kb_service.catalog import get_model
from kb_service.container import Container
from kb_service.services import unit_of_work
from tests.factories.controlplane import ControlPlane
from tests.kb_service.gateway.conftest import (
    HAIKU,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    SONNET,
    FakeAnthropic,
    LiveServer,
    consumption,
    message_json,
    new_key,
    provision_text,
    sse,
    stream_events,
)

HAIKU_RATES = get_model(HAIKU)
HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hi"}]
# No `model`: the gateway falls back to the resource's default (the SDK's types insist on one).
NO_MODEL: Any = openai.omit


def _client(server: LiveServer, key: str) -> openai.OpenAI:
    return server.openai(key)


def _gu(input_tokens: int, output_tokens: int) -> float:
    return HAIKU_RATES.genai_units(input_tokens, output_tokens)


def test_models_lists_the_enabled_models_with_display_names(
    control_plane: ControlPlane, server: LiveServer
) -> None:
    text = provision_text(control_plane)

    models = _client(server, text.key).models.list()

    listed = {m.id: m for m in models.data}
    assert set(listed) == {HAIKU, SONNET}
    assert listed[HAIKU].model_extra == {"display_name": "Anthropic Claude Haiku 4.5", "default": True}
    assert (listed[SONNET].model_extra or {}).get("default") is False


def test_chat_without_a_model_uses_the_default_and_meters_the_providers_usage(
    control_plane: ControlPlane, server: LiveServer, client: TestClient, fake_anthropic: FakeAnthropic
) -> None:
    text = provision_text(control_plane)

    answer = _client(server, text.key).chat.completions.create(
        model=NO_MODEL,
        messages=[{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}],
        max_tokens=50,
        temperature=0.2,
        stop=["END"],
    )

    assert answer.choices[0].message.content == "Hello there"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == HAIKU
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (INPUT_TOKENS, OUTPUT_TOKENS)
    sent = fake_anthropic.bodies[0]
    assert sent["model"] == "claude-haiku-4-5-20251001"
    assert sent["system"] == [{"type": "text", "text": "Be terse."}]
    assert (sent["max_tokens"], sent["temperature"], sent["stop_sequences"]) == (50, 0.2, ["END"])
    days, csv = consumption(client, text)
    assert len(days) == 1
    day = days[0]
    assert (day["input_tokens"], day["output_tokens"], day["api_calls"]) == (INPUT_TOKENS, OUTPUT_TOKENS, 1)
    assert day["genai_units"] == pytest.approx(_gu(INPUT_TOKENS, OUTPUT_TOKENS), rel=1e-9)
    assert f"{day['date']},{INPUT_TOKENS},{OUTPUT_TOKENS}" in csv.splitlines()


def test_a_model_not_enabled_is_refused_naming_the_enabled_ones(
    control_plane: ControlPlane, server: LiveServer, fake_anthropic: FakeAnthropic
) -> None:
    text = provision_text(control_plane, models=[HAIKU], default_model=HAIKU)

    with pytest.raises(openai.BadRequestError) as refused:
        _client(server, text.key).chat.completions.create(model=SONNET, messages=HI)

    assert refused.value.status_code == 400
    assert HAIKU in refused.value.message and SONNET in refused.value.message
    assert fake_anthropic.bodies == []


def test_an_enabled_model_is_called_by_its_provider_name(
    control_plane: ControlPlane, server: LiveServer, fake_anthropic: FakeAnthropic
) -> None:
    text = provision_text(control_plane)

    answer = _client(server, text.key).chat.completions.create(
        model=SONNET, messages=[{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    )

    assert answer.model == SONNET
    assert fake_anthropic.bodies[0]["model"] == "claude-sonnet-4-5-20250929"
    assert fake_anthropic.bodies[0]["messages"] == [{"role": "user", "content": "Hi"}]


def test_stream_ends_with_a_usage_chunk_and_is_metered(
    control_plane: ControlPlane, server: LiveServer, client: TestClient
) -> None:
    text = provision_text(control_plane)

    chunks = list(
        _client(server, text.key).chat.completions.create(
            model=NO_MODEL,
            messages=HI,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (INPUT_TOKENS, OUTPUT_TOKENS)
    days, _ = consumption(client, text)
    assert [(d["input_tokens"], d["output_tokens"], d["api_calls"]) for d in days] == [
        (INPUT_TOKENS, OUTPUT_TOKENS, 1)
    ]
    assert days[0]["genai_units"] == pytest.approx(_gu(INPUT_TOKENS, OUTPUT_TOKENS), rel=1e-9)


def test_stream_honours_include_usage_false(control_plane: ControlPlane, server: LiveServer) -> None:
    text = provision_text(control_plane)

    chunks = list(
        _client(server, text.key).chat.completions.create(
            model=NO_MODEL,
            messages=HI,
            stream=True,
            stream_options={"include_usage": False},
        )
    )

    assert all(c.usage is None for c in chunks) and all(c.choices for c in chunks)


def test_stream_cut_by_the_client_meters_what_the_provider_reported(
    control_plane: ControlPlane, server: LiveServer, client: TestClient, fake_anthropic: FakeAnthropic
) -> None:
    finish = threading.Event()
    events = stream_events(deltas=("one", "two"))

    def slow(_body: object) -> httpx2.Response:
        def body() -> Iterator[bytes]:
            yield sse(events[:4])  # message_start (input tokens, 1 output token) and a first delta
            finish.wait(10)  # the provider is still generating when the client goes away
            yield sse(events[4:])

        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    fake_anthropic.answer = slow
    text = provision_text(control_plane)
    try:
        api = _client(server, text.key)
        stream = api.chat.completions.create(model=NO_MODEL, messages=HI, stream=True)
        next(iter(stream))
        stream.close()
        api.close()  # and its connection pool: the server sees the connection go
        deadline = time.monotonic() + 10
        while not (days := consumption(client, text)[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        finish.set()
    time.sleep(0.3)  # the provider's late end must not meter the call a second time

    assert [(d["input_tokens"], d["output_tokens"], d["api_calls"]) for d in days] == [(INPUT_TOKENS, 1, 1)]
    assert [(d["input_tokens"], d["api_calls"]) for d in consumption(client, text)[0]] == [(INPUT_TOKENS, 1)]


def test_exhausted_resource_is_refused_before_any_provider_call(
    control_plane: ControlPlane, server: LiveServer, client: TestClient, fake_anthropic: FakeAnthropic
) -> None:
    text = provision_text(control_plane, plan="S")
    with unit_of_work(control_plane.container, control_plane.clock) as services:
        services.metering.record_text_call(text.resource_id, HAIKU, 100_000_000, 0)  # far past S

    api = _client(server, text.key)
    with pytest.raises(openai.RateLimitError) as chat:
        api.chat.completions.create(model=NO_MODEL, messages=HI)
    with pytest.raises(openai.RateLimitError):
        api.chat.completions.create(model=NO_MODEL, messages=HI, stream=True)
    usage = client.post(
        "/v1/gateway/usage",
        headers={"Authorization": f"Bearer {text.key}"},
        json={"model_id": HAIKU, "input_tokens": 1, "output_tokens": 1},
    )

    body = chat.value.body
    assert isinstance(body, dict) and body["code"] == "capacity_exhausted"
    assert text.resource_id in chat.value.message and "2026-02-15" in chat.value.message
    assert body["details"] == {"resource_id": text.resource_id, "refill_on": "2026-02-15"}
    assert usage.status_code == 429 and usage.json()["error"]["code"] == "capacity_exhausted"
    assert fake_anthropic.bodies == []


def test_provider_429_is_retried_then_answered_429_with_retry_after(
    control_plane: ControlPlane, server: LiveServer, client: TestClient, fake_anthropic: FakeAnthropic
) -> None:
    error = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    fake_anthropic.answer = lambda _b: httpx2.Response(429, headers={"retry-after": "7"}, json=error)
    text = provision_text(control_plane)

    with pytest.raises(openai.RateLimitError) as refused:
        _client(server, text.key).chat.completions.create(model=NO_MODEL, messages=HI)

    assert refused.value.response.headers["retry-after"] == "7"
    assert isinstance(refused.value.body, dict) and refused.value.body["code"] == "rate_limited"
    assert len(fake_anthropic.bodies) == 2  # one bounded retry (KB_TEXT__MAX_RETRIES=1)
    assert consumption(client, text)[0] == []


@pytest.mark.parametrize("status", [500, 529])
def test_provider_5xx_is_502_naming_the_provider(
    control_plane: ControlPlane,
    server: LiveServer,
    client: TestClient,
    fake_anthropic: FakeAnthropic,
    status: int,
) -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    fake_anthropic.answer = lambda _b: httpx2.Response(status, json=error)
    text = provision_text(control_plane)

    with pytest.raises(openai.InternalServerError) as failed:
        _client(server, text.key).chat.completions.create(model=NO_MODEL, messages=HI)

    assert failed.value.status_code == 502
    assert isinstance(failed.value.body, dict) and failed.value.body["code"] == "provider_unavailable"
    assert "anthropic" in failed.value.message
    assert consumption(client, text)[0] == []


def test_a_wrong_provider_key_is_502_provider_auth_failed_after_one_call(
    control_plane: ControlPlane, server: LiveServer, client: TestClient, fake_anthropic: FakeAnthropic
) -> None:
    error = {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}
    fake_anthropic.answer = lambda _b: httpx2.Response(401, json=error)
    text = provision_text(control_plane)

    with pytest.raises(openai.InternalServerError) as failed:
        _client(server, text.key).chat.completions.create(model=NO_MODEL, messages=HI, stream=True)

    assert failed.value.status_code == 502
    assert isinstance(failed.value.body, dict) and failed.value.body["code"] == "provider_auth_failed"
    assert "sk-test" not in failed.value.response.text
    assert len(fake_anthropic.bodies) == 1
    assert consumption(client, text)[0] == []


def test_keys_reach_only_their_own_resource(
    control_plane: ControlPlane, server: LiveServer, client: TestClient, fake_anthropic: FakeAnthropic
) -> None:
    cp = control_plane
    mine = provision_text(cp)
    theirs = provision_text(cp, cp.admin("Globex"))
    embeddings = cp.embeddings(mine.admin)
    kb = cp.knowledge_base(mine.admin, embeddings["id"])
    kb_key = new_key(cp, kb["id"])
    embeddings_key = new_key(cp, embeddings["id"])
    revoked = new_key(cp, mine.resource_id)
    with unit_of_work(cp.container, cp.clock) as services:
        services.keys.revoke(revoked.split("_")[1])
    hi = HI

    _client(server, theirs.key).chat.completions.create(model=NO_MODEL, messages=hi)
    for key in (kb_key, embeddings_key):
        with pytest.raises(openai.NotFoundError):
            _client(server, key).chat.completions.create(model=NO_MODEL, messages=hi)
    with pytest.raises(openai.AuthenticationError) as refused:
        _client(server, revoked).chat.completions.create(model=NO_MODEL, messages=hi)
    with pytest.raises(openai.AuthenticationError):
        _client(server, "kb_nope_nope").models.list()

    assert "revoked" in refused.value.message
    assert consumption(client, mine)[0] == []  # the other company's call landed on its resource only
    assert [d["api_calls"] for d in consumption(client, theirs)[0]] == [1]
    assert len(fake_anthropic.bodies) == 1
    with unit_of_work(cp.container, cp.clock) as services:
        used = services.keys.list(theirs.resource_id)[0].last_used_at
    assert used is not None


def test_text_calls_without_a_provider_are_503_naming_the_setting(
    control_plane: ControlPlane, container: Container, settings: object
) -> None:
    text = provision_text(control_plane)
    from kb_service.config import NoTextSettings, Settings

    assert isinstance(settings, Settings)
    bare = Container.build(
        settings.model_copy(update={"text": NoTextSettings()}),
        dispatcher=container.dispatcher,
        embedders=container.embedders,
    )
    live = LiveServer(bare, control_plane.clock)
    try:
        with pytest.raises(openai.APIStatusError) as refused:
            _client(live, text.key).chat.completions.create(model=NO_MODEL, messages=HI)
    finally:
        live.close()
        bare.close()

    assert refused.value.status_code == 503
    body = refused.value.body
    assert isinstance(body, dict) and body["code"] == "provider_not_configured"
    assert body["details"] == {"setting": "KB_TEXT__PROVIDER"}
    assert "KB_TEXT__PROVIDER" in refused.value.message and "KB_TEXT__API_KEY" in refused.value.message


def test_provider_answer_with_other_usage_is_metered_as_reported(
    control_plane: ControlPlane, server: LiveServer, client: TestClient, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.answer = lambda _b: httpx2.Response(200, json=message_json("ok", (7, 3)))
    text = provision_text(control_plane)
    api = _client(server, text.key)

    for _ in range(3):
        api.chat.completions.create(model=NO_MODEL, messages=HI)

    days, _ = consumption(client, text)
    assert [(d["input_tokens"], d["output_tokens"], d["api_calls"]) for d in days] == [(21, 9, 3)]
    assert days[0]["genai_units"] == pytest.approx(_gu(21, 9), rel=1e-9)


def test_calls_waiting_on_the_provider_do_not_queue_for_a_database_connection(
    control_plane: ControlPlane, server: LiveServer, client: TestClient, fake_anthropic: FakeAnthropic
) -> None:
    """More calls in flight than the old pool had connections (15 on SQLite, 20 on PostgreSQL):
    the provider answers none until all have reached it, so a call queued for a connection
    breaks the barrier and the calls fail."""
    calls = 24
    all_in_flight = threading.Barrier(calls, timeout=20)

    def answer(_body: dict[str, Any]) -> httpx2.Response:
        all_in_flight.wait()
        return httpx2.Response(200, json=message_json())

    fake_anthropic.answer = answer
    text = provision_text(control_plane)
    api = _client(server, text.key)

    with ThreadPoolExecutor(calls) as pool:
        answers = list(
            pool.map(lambda _: api.chat.completions.create(model=NO_MODEL, messages=HI), range(calls))
        )

    assert [a.choices[0].message.content for a in answers] == ["Hello there"] * calls
    days, _ = consumption(client, text)
    assert [(d["input_tokens"], d["api_calls"]) for d in days] == [(INPUT_TOKENS * calls, calls)]
