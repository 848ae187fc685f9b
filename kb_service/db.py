"""Database engine, sessions and the declarative base (SQLAlchemy 2, sync).

One unit of work per request and per task: `session_scope` commits on success, rolls back on error.
Repositories never commit.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def new_id() -> str:
    """A 32-hex-digit id that sorts by creation time (a UUIDv7 layout: 48-bit milliseconds, then
    random bits), so listings ordered by source id follow the order things were accepted."""
    millis = time.time_ns() // 1_000_000
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    return uuid.UUID(int=value & ((1 << 128) - 1)).hex


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str, connections: int = 20) -> Engine:
    """An engine whose pool can give `connections` threads a connection each at once (the API's
    endpoint threads: one waiting for a free connection would queue behind calls that are only
    waiting on a provider). Ten stay open; the rest are made on demand and closed when returned."""
    pool = {"pool_size": min(10, connections), "max_overflow": max(0, connections - 10)}
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **pool)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while a worker writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Deleted content (uploaded files, pushed chunk text) is overwritten with zeros in the database
    # pages, not left in free pages; the WAL holds it until the next `checkpoint` truncates it.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def checkpoint(engine: Engine) -> None:
    """Copy a SQLite WAL into the database file and truncate it to zero bytes, so deleted content
    does not linger in the log (run by every sweep); nothing to do on PostgreSQL. A checkpoint that
    readers keep from completing is simply retried by the next sweep."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
