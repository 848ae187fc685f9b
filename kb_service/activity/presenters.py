"""Activity entries as they read on the wire."""

from __future__ import annotations

from kb_service.activity.models import ActivityEntry
from schemas.activity import ActivityOut


def activity_out(entry: ActivityEntry) -> ActivityOut:
    return ActivityOut(
        occurred_at=entry.occurred_at, actor=entry.actor, action=entry.action, detail=entry.detail
    )
