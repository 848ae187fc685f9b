from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb_service.activity.models import ActivityEntry


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
