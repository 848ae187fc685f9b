"""`/v1/messages` with the official `anthropic` client (it authenticates with `x-api-key`), and the
gateway in front of Bedrock (its loopback Bedrock Runtime): same models, metering and limits."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest
from fastapi.testclient import TestClient

from kb_service.config import Settings
from kb_service.container import Container
from kb_service.services import unit_of_work
from tests.factories.controlplane import ControlPlane, MovableClock
from tests.kb_service.gateway.conftest import (
    HAIKU,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    FakeAnthropic,
    LiveServer,
    consumption,
    provision_text,
)
from tests.kb_service.gateway.test_bedrock_provider import FakeBedrock, event_frame, stream_reply


def test_messages_answers_in_the_anthropic_shape_and_meters(
    control_plane: ControlPlane, server: LiveServer, client: TestClient, fake_anthropic: FakeAnthropic
) -> None:
    text = provision_text(control_plane)

    message = server.anthropic(text.key).messages.create(
        model=HAIKU,
        max_tokens=40,
        system="Be terse.",
        messages=[{"role": "user", "content": "Hi"}],
        stop_sequences=["END"],
    )

    assert message.content[0].type == "text" and message.content[0].text == "Hello there"
    assert message.stop_reason == "end_turn" and message.model == HAIKU
    assert (message.usage.input_tokens, message.usage.output_tokens) == (INPUT_TOKENS, OUTPUT_TOKENS)
    sent = fake_anthropic.bodies[0]
    assert (sent["max_tokens"], sent["stop_sequences"]) == (40, ["END"])
    days, _ = consumption(client, text)
    assert [(d["input_tokens"], d["output_tokens"], d["api_calls"]) for d in days] == [
        (INPUT_TOKENS, OUTPUT_TOKENS, 1)
    ]


def test_messages_stream_has_the_anthropic_events_and_final_usage(
    control_plane: ControlPlane, server: LiveServer, client: TestClient
) -> None:
    text = provision_text(control_plane)

    with server.anthropic(text.key).messages.stream(
        model=HAIKU, max_tokens=40, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()

    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert {"content_block_start", "content_block_delta", "content_block_stop", "message_delta"} <= set(kinds)
    assert final.content[0].type == "text" and final.content[0].text == "Hello"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (INPUT_TOKENS, OUTPUT_TOKENS)
    days, _ = consumption(client, text)
    assert [(d["input_tokens"], d["output_tokens"]) for d in days] == [(INPUT_TOKENS, OUTPUT_TOKENS)]


def test_messages_refuses_a_kb_key_and_an_exhausted_resource(
    control_plane: ControlPlane, server: LiveServer, fake_anthropic: FakeAnthropic
) -> None:
    cp = control_plane
    text = provision_text(cp)
    with unit_of_work(cp.container, cp.clock) as services:
        services.metering.record_text_call(text.resource_id, HAIKU, 100_000_000, 0)

    with pytest.raises(anthropic.RateLimitError):
        server.anthropic(text.key).messages.create(
            model=HAIKU, max_tokens=5, messages=[{"role": "user", "content": "Hi"}]
        )
    with pytest.raises(anthropic.AuthenticationError):
        server.anthropic("kb_unknown_secret").messages.create(
            model=HAIKU, max_tokens=5, messages=[{"role": "user", "content": "Hi"}]
        )
    assert fake_anthropic.bodies == []


@pytest.fixture
def bedrock() -> Iterator[FakeBedrock]:
    fake = FakeBedrock()
    yield fake
    fake.close()


def test_through_bedrock_a_stream_is_metered_from_its_metadata_usage(
    control_plane: ControlPlane, settings: Settings, container: Container, bedrock: FakeBedrock
) -> None:
    text = provision_text(control_plane, cross_region_inference=True)
    bedrock.answer = lambda _path: stream_reply(
        [
            event_frame("messageStart", {"role": "assistant"}),
            event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi!"}}),
            event_frame("messageStop", {"stopReason": "end_turn"}),
            event_frame("metadata", {"usage": {"inputTokens": 17, "outputTokens": 4, "totalTokens": 21}}),
        ]
    )
    provider = bedrock.provider(max_retries=0)
    via_bedrock = Container.build(
        settings, dispatcher=container.dispatcher, embedders=container.embedders, text_provider=provider
    )
    clock: MovableClock = control_plane.clock
    live = LiveServer(via_bedrock, clock)
    try:
        chunks = list(
            live.openai(text.key).chat.completions.create(
                model=HAIKU, messages=[{"role": "user", "content": "Hi"}], stream=True
            )
        )
    finally:
        live.close()
        via_bedrock.close()

    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (17, 4)
    assert bedrock.seen[0].path.endswith("/model/eu.anthropic.claude-haiku-4-5-20251001-v1:0/converse-stream")
    days, _ = consumption(control_plane.client, text)
    assert [(d["input_tokens"], d["output_tokens"], d["api_calls"]) for d in days] == [(17, 4, 1)]
