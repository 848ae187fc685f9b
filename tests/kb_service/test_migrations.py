"""The schema exists only through migrations, and the migrations match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from kb_service.db import make_engine
from kb_service.migrations import upgrade
from kb_service.models import metadata


def test_migrations_build_exactly_the_models_schema(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        upgrade(engine)  # idempotent
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), metadata)
            tables = set(inspect(connection).get_table_names())
        assert diff == []
        assert {"resources", "api_keys", "collections", "documents", "chunk_jobs", "usage_events"} <= tables
    finally:
        engine.dispose()
