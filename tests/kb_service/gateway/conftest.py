"""The gateway over real HTTP: a uvicorn server on a free loopback port, called with the official
`openai` and `anthropic` clients, with the Anthropic API faked at the provider SDK's transport."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2
import openai
import pytest
import uvicorn
from fastapi.testclient import TestClient

from kb_service.api import create_app
from kb_service.config import AnthropicTextSettings, Settings
from kb_service.container import Container
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.services import unit_of_work
from tests.factories.containers import container_with_fake_anthropic
from tests.factories.controlplane import ControlPlane, MovableClock, TestUser, clock, control_plane

__all__ = ["clock", "control_plane"]

HAIKU = "anthropic.claude-haiku-4-5"
SONNET = "anthropic.claude-sonnet-4-5"
INPUT_TOKENS, OUTPUT_TOKENS = 1234, 56


def message_json(text: str = "Hello there", usage: tuple[int, int] = (INPUT_TOKENS, OUTPUT_TOKENS)) -> Any:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


def stream_events(
    deltas: tuple[str, ...] = ("Hel", "lo"), usage: tuple[int, int] = (INPUT_TOKENS, OUTPUT_TOKENS)
) -> list[dict[str, Any]]:
    start = {**message_json("", (usage[0], 1)), "content": [], "stop_reason": None}
    return [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": d}}
            for d in deltas
        ),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": usage[1]},
        },
        {"type": "message_stop"},
    ]


def sse(events: list[dict[str, Any]]) -> bytes:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


@dataclass
class FakeAnthropic:
    """The Anthropic Messages API at the SDK's transport: answers with `answer`, keeps the bodies."""

    answer: Callable[[dict[str, Any]], httpx2.Response] | None = None
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        body: dict[str, Any] = json.loads(request.content)
        self.bodies.append(body)
        if self.answer is not None:
            return self.answer(body)
        if body.get("stream"):
            return httpx2.Response(
                200, headers={"content-type": "text/event-stream"}, content=sse(stream_events())
            )
        return httpx2.Response(200, json=message_json())


@pytest.fixture
def fake_anthropic() -> FakeAnthropic:
    return FakeAnthropic()


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], db_url: str) -> Settings:
    text = AnthropicTextSettings(
        provider="anthropic",
        api_key="sk-test",
        base_url="http://anthropic.test",
        max_retries=1,
        max_backoff_s=0,
    )
    return settings_factory(database_url=db_url, text=text)


@pytest.fixture
def container(
    settings: Settings, embedders: EmbedderRegistry, fake_anthropic: FakeAnthropic
) -> Iterator[Container]:
    built = container_with_fake_anthropic(settings, embedders, fake_anthropic)
    yield built
    built.close()


class LiveServer:
    """The app on uvicorn in a thread, on a loopback port the OS picked."""

    def __init__(self, container: Container, clock: MovableClock | None) -> None:
        app = create_app(container=container)
        if clock is not None:
            app.state.clock = clock
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        self._clients: list[openai.OpenAI | anthropic.Anthropic] = []
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)

    def openai(self, key: str) -> openai.OpenAI:
        made = openai.OpenAI(base_url=f"{self.url}/v1", api_key=key, max_retries=0)
        self._clients.append(made)
        return made

    def anthropic(self, key: str) -> anthropic.Anthropic:
        made = anthropic.Anthropic(base_url=self.url, api_key=key, max_retries=0)
        self._clients.append(made)
        return made

    def close(self) -> None:
        for made in self._clients:
            made.close()
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()


@pytest.fixture
def server(container: Container, clock: MovableClock) -> Iterator[LiveServer]:
    live = LiveServer(container, clock)
    yield live
    live.close()


@dataclass(frozen=True)
class Provisioned:
    resource_id: str
    key: str
    admin: TestUser


def new_key(cp: ControlPlane, resource_id: str) -> str:
    with unit_of_work(cp.container, cp.clock) as services:
        return services.keys.create(resource_id, "app").secret


def provision_text(cp: ControlPlane, admin: TestUser | None = None, **fields: Any) -> Provisioned:
    admin = admin or cp.admin()
    fields = {"models": [HAIKU, SONNET], "default_model": HAIKU, **fields}
    resource = cp.provision(admin, **fields)
    return Provisioned(resource["id"], new_key(cp, resource["id"]), admin)


def consumption(client: TestClient, who: Provisioned) -> tuple[list[dict[str, Any]], str]:
    """(the days with usage from the daily series, the CSV export) of the bundle month."""
    base = f"/v1/resources/{who.resource_id}/consumption"
    daily = client.get(f"{base}/daily", headers=who.admin.headers)
    assert daily.status_code == 200, daily.text
    csv = client.get(f"{base}/export.csv", headers=who.admin.headers)
    assert csv.status_code == 200, csv.text
    return [d for d in daily.json()["days"] if d["api_calls"]], csv.text
