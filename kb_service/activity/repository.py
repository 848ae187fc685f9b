from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from kb_service.activity.models import ActivityEntry
from kb_service.keys.models import ApiKey
from kb_service.knowledge.models import ChunkJob, Document
from kb_service.knowledge.models import Collection as KbCollection
from kb_service.users.models import User


class ActivityRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, entry: ActivityEntry) -> None:
        self._session.add(entry)

    def page(self, resource_id: str, *, offset: int, limit: int) -> tuple[list[ActivityEntry], int]:
        """Newest first."""
        where = ActivityEntry.resource_id == resource_id
        total = int(self._session.scalar(select(func.count()).select_from(ActivityEntry).where(where)) or 0)
        query = (
            select(ActivityEntry)
            .where(where)
            .order_by(ActivityEntry.occurred_at.desc(), ActivityEntry.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return list(self._session.scalars(query)), total

    # --- names behind the ids of a page of entries (one query per kind, never one per row) ----

    def user_emails(self, user_ids: Collection[str]) -> dict[str, str]:
        if not user_ids:
            return {}
        return self._pairs(select(User.id, User.email).where(User.id.in_(user_ids)))

    def key_descriptions(self, key_ids: Collection[str]) -> dict[str, str]:
        if not key_ids:
            return {}
        return self._pairs(select(ApiKey.id, ApiKey.description).where(ApiKey.id.in_(key_ids)))

    def collection_names(self, document_ids: Collection[str], job_ids: Collection[str]) -> dict[str, str]:
        """The collection of each document and chunk job, by its id."""
        names: dict[str, str] = {}
        for model, ids in ((Document, document_ids), (ChunkJob, job_ids)):
            if ids:
                query = (
                    select(model.id, KbCollection.name)
                    .join(KbCollection, KbCollection.id == model.collection_id)
                    .where(model.id.in_(ids))
                )
                names.update(self._pairs(query))
        return names

    def _pairs(self, query: Select[str, str]) -> dict[str, str]:
        return {str(key): str(name) for key, name in self._session.execute(query)}
