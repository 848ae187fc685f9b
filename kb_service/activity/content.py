"""KB content changes made through the data plane, logged without touching its code paths.

The API-key dependency marks the request's session with the caller (`mark_actor`); after each flush
of such a session (ids are assigned by then; the new / deleted lists still show what was flushed),
new and deleted documents, collections and chunk jobs become activity entries, written with the
same commit.
Worker sessions are never marked, so background replacement and cleanup are not logged as user acts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from kb_service.activity.models import ActivityEntry
from kb_service.clock import Clock
from kb_service.knowledge.models import ChunkJob, Collection, Document

_ACTOR = "kb_activity_actor"


def mark_actor(session: Session, actor: str, clock: Clock) -> None:
    session.info[_ACTOR] = (actor, clock)


def _describe(obj: object, deleted: bool) -> tuple[str, str, dict[str, Any]] | None:
    match obj:
        case Document():
            action = "document.deleted" if deleted else "document.uploaded"
            return obj.kb_id, action, {"document_id": obj.id, "filename": obj.filename}
        case Collection():
            action = "collection.deleted" if deleted else "collection.created"
            return obj.kb_id, action, {"collection": obj.name}
        case ChunkJob() if not deleted:
            return obj.kb_id, "chunks.pushed", {"job_id": obj.id, "mode": obj.mode}
    return None


@event.listens_for(Session, "after_flush")
def _log_content_changes(session: Session, _context: Any) -> None:
    marked: tuple[str, Clock] | None = session.info.get(_ACTOR)
    if marked is None:
        return
    actor, clock = marked
    changes = [(o, False) for o in session.new] + [(o, True) for o in session.deleted]
    for obj, deleted in changes:
        described = _describe(obj, deleted)
        if described is None or described[0] is None:
            continue
        kb_id, action, detail = described
        session.add(
            ActivityEntry(
                resource_id=kb_id, occurred_at=clock.now(), actor=actor, action=action, detail=detail
            )
        )
