"""The process-wide collaborators (engine, store, embedders, dispatcher), built once from Settings
by the API's lifespan, the workers' process init and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from kb_service.broker import CeleryDispatcher, make_celery, queue_name
from kb_service.config import Settings
from kb_service.db import make_engine, make_session_factory
from kb_service.dispatch import TaskDispatcher
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.vectorstores.base import VectorStore
from kb_service.vectorstores.factory import build_vector_store


@dataclass
class Container:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: VectorStore
    embedders: EmbedderRegistry
    dispatcher: TaskDispatcher

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        dispatcher: TaskDispatcher | None = None,
        store: VectorStore | None = None,
        embedders: EmbedderRegistry | None = None,
        http_client: httpx.Client | None = None,
    ) -> Container:
        settings.ensure_dirs()
        engine = make_engine(settings.resolved_database_url)
        if dispatcher is None:
            dispatcher = CeleryDispatcher(make_celery(settings), queue_name(settings))
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            store=store or build_vector_store(settings),
            embedders=embedders or EmbedderRegistry(settings, http_client=http_client),
            dispatcher=dispatcher,
        )

    def close(self) -> None:
        self.store.close()
        self.engine.dispose()
