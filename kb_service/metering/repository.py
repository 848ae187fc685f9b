from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb_service.metering.models import UsageEvent


class UsageRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    @property
    def session(self) -> Session:
        """The unit of work (the capacity tally ties a call's reservation to its end)."""
        return self._session

    def add(self, event: UsageEvent) -> None:
        # No flush: the row is written by the unit of work's commit (or by an earlier autoflush), so
        # on SQLite the database's one write lock is held for that insert and commit only, not for
        # the rest of the request (a search's store scan, the hop back to the event loop).
        self._session.add(event)

    def daily_totals(
        self, resource_id: str, start: date | None = None, end: date | None = None
    ) -> list[tuple[date, int, int, int, float]]:
        """(day, input tokens, output tokens, API calls, GU) per day with usage, oldest first."""
        query = (
            select(
                UsageEvent.day,
                func.sum(UsageEvent.input_tokens),
                func.sum(UsageEvent.output_tokens),
                func.sum(UsageEvent.api_calls),
                func.sum(UsageEvent.genai_units),
            )
            .where(UsageEvent.resource_id == resource_id)
            .group_by(UsageEvent.day)
            .order_by(UsageEvent.day)
        )
        if start is not None:
            query = query.where(UsageEvent.day >= start)
        if end is not None:
            query = query.where(UsageEvent.day < end)
        return [(d, int(i), int(o), int(c), float(g)) for d, i, o, c, g in self._session.execute(query)]

    def genai_units(self, resource_id: str, start: date, end: date) -> float:
        """GU used by the resource on days in [start, end)."""
        query = select(func.coalesce(func.sum(UsageEvent.genai_units), 0.0)).where(
            UsageEvent.resource_id == resource_id, UsageEvent.day >= start, UsageEvent.day < end
        )
        return float(self._session.scalar(query) or 0.0)

    def gu_stats(self, resource_id: str, start: date, end: date) -> tuple[float, float]:
        """(total, largest single event) of the GU used by the resource on days in [start, end)."""
        query = select(
            func.coalesce(func.sum(UsageEvent.genai_units), 0.0),
            func.coalesce(func.max(UsageEvent.genai_units), 0.0),
        ).where(UsageEvent.resource_id == resource_id, UsageEvent.day >= start, UsageEvent.day < end)
        total, largest = self._session.execute(query).one()
        return float(total or 0.0), float(largest or 0.0)
