"""A container for tests that reach the text provider: the Anthropic SDK's transport is a handler
(tasks recorded, not run; the schema current)."""

from __future__ import annotations

from collections.abc import Callable

import httpx2

from kb_service.config import Settings
from kb_service.container import Container
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.migrations import upgrade
from kb_service.queue.outbox import RecordingDispatcher


def container_with_fake_anthropic(
    settings: Settings,
    embedders: EmbedderRegistry,
    anthropic: Callable[[httpx2.Request], httpx2.Response],
) -> Container:
    container = Container.build(
        settings,
        dispatcher=RecordingDispatcher(),
        embedders=embedders,
        text_http_client=httpx2.Client(transport=httpx2.MockTransport(anthropic)),
    )
    upgrade(container.engine)
    return container
