"""An API stack per vector store: the embedded store, and OpenSearch (the loopback fake), both on the
parametrized state database, with task messages drained in-process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kb_service.api import create_app
from kb_service.config import Settings
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.metering.models import UsageEvent
from kb_service.migrations import upgrade
from kb_service.queue.outbox import RecordingDispatcher
from tests.conftest import KB, Drainer, create_kb
from tests.fakes.opensearch import FakeOpenSearch


@dataclass
class Stack:
    store: str
    container: Container
    client: TestClient
    kb: KB
    drain: Drainer

    def usage_rows(self) -> int:
        """Metering rows so far: every billed embedding call (ingestion or query) adds one."""
        with session_scope(self.container.sessions) as session:
            return session.scalar(select(func.count(UsageEvent.id))) or 0


@pytest.fixture(params=["embedded", "opensearch"])
def stack(
    request: pytest.FixtureRequest,
    settings_factory: Callable[..., Settings],
    db_url: str,
    embedders: EmbedderRegistry,
) -> Iterator[Stack]:
    overrides: dict[str, Any] = {"database_url": db_url}
    with FakeOpenSearch() as server:
        if request.param == "opensearch":
            overrides["vector_store"] = {"kind": "opensearch", "hosts": [server.url], "max_retries": 1}
        container = Container.build(
            settings_factory(**overrides), dispatcher=RecordingDispatcher(), embedders=embedders
        )
        upgrade(container.engine)
        try:
            with TestClient(create_app(container=container)) as client:
                yield Stack(request.param, container, client, create_kb(container), Drainer(container))
        finally:
            container.close()
