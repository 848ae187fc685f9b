"""The activity log per resource: team access, key management and KB content changes.

Entries carry who (a user's email, or `key:<id>` for an API key), what and when, with ids and names
only: never chunk text, prompts or secrets.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from kb_service.activity.models import ActivityEntry
from kb_service.activity.repository import ActivityRepository
from kb_service.clock import Clock
from kb_service.teams.access import Access, Permission
from kb_service.users.service import Actor


class ActivityService:
    def __init__(self, session: Session, clock: Clock) -> None:
        self._entries = ActivityRepository(session)
        self._access = Access(session)
        self._clock = clock

    def record(self, resource_id: str, actor: str, action: str, **detail: Any) -> None:
        self._entries.add(
            ActivityEntry(
                resource_id=resource_id,
                occurred_at=self._clock.now(),
                actor=actor,
                action=action,
                detail=detail,
            )
        )

    def list(
        self, actor: Actor, resource_id: str, *, offset: int, limit: int
    ) -> tuple[list[ActivityEntry], int]:
        resource = self._access.resource(actor, resource_id, Permission.VIEW)
        return self._entries.page(resource.id, offset=offset, limit=limit)
