from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

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
