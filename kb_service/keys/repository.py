from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from kb_service.keys.models import ApiKey


class KeyRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, key: ApiKey) -> ApiKey:
        self._session.add(key)
        self._session.flush()
        return key

    def get(self, key_id: str) -> ApiKey | None:
        return self._session.get(ApiKey, key_id)

    def list_for_resource(self, resource_id: str) -> list[ApiKey]:
        query = select(ApiKey).where(ApiKey.resource_id == resource_id).order_by(ApiKey.created_at)
        return list(self._session.scalars(query))

    def paired_with(self, key_id: str) -> list[ApiKey]:
        return list(self._session.scalars(select(ApiKey).where(ApiKey.paired_with_key_id == key_id)))

    def touch(self, key: ApiKey, when: datetime) -> None:
        """Record a use of the key in a transaction of its own, committed at once: the request's
        unit of work stays read-only until it meters, so it holds no write lock while it waits
        (SQLite has one writer; the capacity check may wait for calls in flight)."""
        if self._holds_writes():
            key.last_used_at = when  # a second writer would wait on this one: write in it
            return
        with Session(self._session.get_bind()) as own, own.begin():
            own.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=when))
        set_committed_value(key, "last_used_at", when)

    def _holds_writes(self) -> bool:
        session = self._session
        if session.new or session.dirty or session.deleted:
            return True
        raw = session.connection().connection.dbapi_connection
        # sqlite3 opens a transaction only to write; other drivers' row locks are not this key's.
        return bool(getattr(raw, "in_transaction", False))
