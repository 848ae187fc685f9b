"""The process-wide collaborators (engine, store, embedders, dispatcher, text provider), built once
from Settings by the API's lifespan, the workers' process init and the CLI."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from kb_service.config import Settings
from kb_service.db import make_engine, make_session_factory
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.gateway.availability import model_offer
from kb_service.gateway.providers.base import TextProvider
from kb_service.queue.broker import CeleryDispatcher, make_celery, queue_name
from kb_service.queue.outbox import TaskDispatcher
from kb_service.vectorstores.base import VectorStore
from kb_service.vectorstores.factory import build_vector_store

if TYPE_CHECKING:
    import httpx2

    from kb_service.catalog import Offer


@dataclass
class Container:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: VectorStore
    embedders: EmbedderRegistry
    dispatcher: TaskDispatcher
    # Handed to the Anthropic SDK (tests and the benchmark fake the API at this transport).
    text_http_client: httpx2.Client | None = None
    _text_provider: TextProvider | None = field(default=None, repr=False)
    _text_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def text_provider(self) -> TextProvider:
        """The one text provider of this process, built on first use (SDK clients pool connections).

        A misconfiguration (`ProviderNotConfigured`) is raised to every caller, not cached, so the
        503 names the setting each time."""
        with self._text_lock:
            if self._text_provider is None:
                from kb_service.gateway.providers.factory import build_text_provider

                self._text_provider = build_text_provider(
                    self.settings.text, anthropic_http_client=self.text_http_client
                )
            return self._text_provider

    @property
    def model_offer(self) -> Offer:
        """Which catalog models this deployment can call (Cohere needs its key)."""
        return model_offer(self.settings)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        dispatcher: TaskDispatcher | None = None,
        store: VectorStore | None = None,
        embedders: EmbedderRegistry | None = None,
        http_client: httpx.Client | None = None,
        text_http_client: httpx2.Client | None = None,
        text_provider: TextProvider | None = None,
    ) -> Container:
        make_data_dir_private(settings)
        # Endpoint threads, plus a few for what runs beside them (stream metering, MCP sessions).
        engine = make_engine(settings.resolved_database_url, settings.request_threads + 4)
        if dispatcher is None:
            dispatcher = CeleryDispatcher(make_celery(settings), queue_name(settings))
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            store=store or build_vector_store(settings),
            embedders=embedders or EmbedderRegistry(settings, http_client=http_client),
            dispatcher=dispatcher,
            text_http_client=text_http_client,
            _text_provider=text_provider,
        )

    def close(self) -> None:
        self.store.close()
        self.engine.dispose()


# What this process creates is readable by its user only: files 0600, directories 0700.
PRIVATE_UMASK = 0o077
_DATA_DIRS = ("blobs", "vectors", "models")
_DATA_FILES = ("state.sqlite3", "broker.sqlite3", "portal_secret", "celerybeat-schedule")


def make_data_dir_private(settings: Settings) -> None:
    """The data folder holds uploaded files, chunk text, key hashes and the portal's signing key.
    Every process of the service (API, workers, CLI) sets a private umask when it builds its
    container, so the SQLite databases and their WAL/SHM files, the vector files, the broker
    database and the model cache are created 0600 / 0700; what an older version created with
    looser modes is tightened here (the folder itself, its known sub-folders and files)."""
    os.umask(PRIVATE_UMASK)
    settings.ensure_dirs()
    root = settings.resolved_data_dir
    root.chmod(0o700)
    for name in _DATA_DIRS:
        if (root / name).is_dir():
            (root / name).chmod(0o700)
    for name in _DATA_FILES:
        for suffix in ("", "-wal", "-shm"):
            path = root / f"{name}{suffix}"
            if path.is_file():
                path.chmod(0o600)
