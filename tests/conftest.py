"""Shared fixtures: both state databases, containers with real parts, an API client, KBs and keys.

The state database is parametrized: every test that uses `db_url` runs on SQLite and on the
PostgreSQL server of this machine (each test in a schema of its own). KB_TEST_DATABASES=sqlite
narrows it when no PostgreSQL is around.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from kb_service.api import create_app
from kb_service.clock import SystemClock
from kb_service.config import Settings
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.migrations import upgrade
from kb_service.queue.broker import PROCESS_CHUNK_JOB, PROCESS_DOCUMENT, SWEEP
from kb_service.queue.outbox import RecordingDispatcher
from kb_service.services import Services, ingestion_service

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The bundled model's ONNX export is cached once per machine for the whole suite — worker processes
# started by the tests inherit this — instead of once per test data folder.
os.environ.setdefault(
    "KB_LOCAL_EMBEDDER__CACHE_DIR", str(Path(tempfile.gettempdir()) / "kb-service-tests" / "models")
)
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
PDF_DIR = Path(os.environ.get("KB_TEST_PDF_DIR", REPO.parent / "shared" / "pdfs"))
POSTGRES_URL = os.environ.get("KB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("KB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASES = [d for d in os.environ.get("KB_TEST_DATABASES", "sqlite,postgresql").split(",") if d]


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.sqlite3'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def embedders() -> EmbedderRegistry:
    """One registry (and one loaded local model) for the whole session."""
    return EmbedderRegistry(Settings())


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"data_dir": tmp_path / "data", "log_json": False}
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], db_url: str) -> Settings:
    return settings_factory(database_url=db_url)


@pytest.fixture
def container(settings: Settings, embedders: EmbedderRegistry) -> Iterator[Container]:
    built = Container.build(settings, dispatcher=RecordingDispatcher(), embedders=embedders)
    upgrade(built.engine)
    yield built
    built.close()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as test_client:
        yield test_client


class Drainer:
    """Runs the recorded task messages in-process, as a worker would, until none is left."""

    def __init__(self, container: Container) -> None:
        self._container = container
        self.service = ingestion_service(container, SystemClock(), worker_id="test-worker")

    def __call__(self) -> int:
        dispatcher = self._container.dispatcher
        assert isinstance(dispatcher, RecordingDispatcher)
        ran = 0
        while dispatcher.sent:
            name, args = dispatcher.sent.pop(0)
            if name == PROCESS_DOCUMENT:
                self.service.process_document(*args)
            elif name == PROCESS_CHUNK_JOB:
                self.service.process_chunk_job(*args)
            elif name == SWEEP:
                self.service.sweep()
            ran += 1
        return ran


@pytest.fixture
def drain(container: Container) -> Drainer:
    return Drainer(container)


@dataclass(frozen=True)
class KB:
    id: str
    embeddings_resource_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def url(self, path: str = "") -> str:
        return f"/v1/knowledge-bases/{self.id}{path}"


def create_kb(container: Container, name: str = "Support", model_id: str = "all-minilm-l6-v2") -> KB:
    with session_scope(container.sessions) as session:
        services = Services(session, container, SystemClock())
        handle = services.resources.create_knowledge_base(name, model_id=model_id)
        issued = services.keys.create(handle.knowledge_base.id, "tests")
        return KB(handle.knowledge_base.id, handle.embeddings.id, issued.secret)


@pytest.fixture
def kb(container: Container) -> KB:
    return create_kb(container)


def upload(
    client: TestClient,
    kb: KB,
    name: str,
    content: bytes,
    *,
    content_type: str = "text/plain",
    collection: str | None = None,
    metadata: dict[str, str] | None = None,
    password: str | None = None,
) -> Any:
    import json

    data: dict[str, str] = {}
    if collection is not None:
        data["collection"] = collection
    if metadata is not None:
        data["metadata"] = json.dumps(metadata)
    if password is not None:
        data["password"] = password
    return client.post(
        kb.url("/documents"), headers=kb.headers, files={"file": (name, content, content_type)}, data=data
    )
