"""A knowledge base with content, served by the real app under uvicorn on a free port: what the MCP
and OpenAI-compatible interfaces are tested against with their own official clients."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kb_service.api import create_app
from kb_service.config import Settings
from kb_service.container import Container
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.migrations import upgrade
from kb_service.queue.outbox import RecordingDispatcher
from tests.conftest import KB, Drainer, create_kb, upload
from tests.factories.controlplane import clock, control_plane
from tests.kb_service.portal.live import LiveServer

__all__ = ["clock", "control_plane"]

# Three small documents in two collections, with metadata the filters can tell apart.
DOCUMENTS = [
    (
        "printer.txt",
        b"The printer jams when the paper tray is overfilled. Remove the tray and clear the jam.",
        "Manuals",
        {"Product": "Printer", "Priority": "2", "Status": "Solved", "sourceUrl": "https://example.test/p"},
    ),
    (
        "toner.txt",
        b"Replace the toner cartridge when the printer prints faded pages.",
        "Manuals",
        {"Product": "Toner", "Priority": "5", "Status": "Open"},
    ),
    (
        "scanner.txt",
        b"The scanner glass must be cleaned before scanning photos of printed pages.",
        "Tickets",
        {"Product": "Scanner", "Priority": "3", "Status": "Solved", "knowledge": "Clean the glass first."},
    ),
]


@dataclass(frozen=True)
class Live:
    url: str
    kb: KB
    container: Container
    settings: Settings
    document_ids: dict[str, str]


@contextmanager
def serving(root: Path, embedders: EmbedderRegistry) -> Iterator[Live]:
    settings = Settings(
        data_dir=root / "data", database_url=f"sqlite:///{root / 'state.sqlite3'}", log_json=False
    )
    container = Container.build(settings, dispatcher=RecordingDispatcher(), embedders=embedders)
    upgrade(container.engine)
    kb = create_kb(container)
    ids: dict[str, str] = {}
    with TestClient(create_app(container=container)) as client:
        for name, content, collection, metadata in DOCUMENTS:
            accepted = upload(client, kb, name, content, collection=collection, metadata=metadata)
            assert accepted.status_code == 202, accepted.text
            ids[name] = accepted.json()["id"]
    Drainer(container)()
    try:
        with LiveServer(container) as server:
            yield Live(server.url, kb, container, settings, ids)
    finally:
        container.close()


@pytest.fixture
def live(tmp_path: Path, embedders: EmbedderRegistry) -> Iterator[Live]:
    """A live app of its own, for a test that changes what it serves."""
    with serving(tmp_path, embedders) as served:
        yield served


@pytest.fixture(scope="module")
def shared_live(tmp_path_factory: pytest.TempPathFactory, embedders: EmbedderRegistry) -> Iterator[Live]:
    """One live app for the read-only tests of a module (searches, listings)."""
    with serving(tmp_path_factory.mktemp("live"), embedders) as served:
        yield served
