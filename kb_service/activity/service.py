"""The activity log per resource: team access, key management, KB content changes, and the
resource's own settings and capacity (provisioning, settings and model changes, capacity changes,
deprovisioning scheduled, cancelled and carried out — by "system" when the scheduler does it).

Entries carry who (a user's email, or `key:<id>` for an API key), what and when, with ids and names
only: never chunk text, prompts or secrets.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kb_service.activity.models import ActivityEntry
from kb_service.activity.repository import ActivityRepository
from kb_service.auth.access import Access, Permission
from kb_service.auth.principals import Actor
from kb_service.clock import Clock

ACTION_LABELS = {
    "document.uploaded": "Uploaded document",
    "document.deleted": "Deleted document",
    "document.metadata_updated": "Edited document metadata",
    "collection.created": "Created collection",
    "collection.deleted": "Deleted collection",
    "chunks.pushed": "Pushed chunks",
    "chunks.metadata_updated": "Edited chunk metadata",
    "chunks.deleted": "Deleted app objects' chunks",
    "member.added": "Added member",
    "member.removed": "Removed member",
    "invitation.sent": "Sent invitation",
    "invitation.withdrawn": "Withdrew invitation",
    "invitation.accepted": "Invitation accepted",
    "invitation.declined": "Invitation declined",
    "key.created": "Created API key",
    "key.revoked": "Revoked API key",
    "resource.provisioned": "Provisioned resource",
    "settings.changed": "Changed settings",
    "models.changed": "Changed enabled models",
    "capacity.changed": "Changed capacity",
    "capacity.change_cancelled": "Cancelled scheduled capacity change",
    "deprovision.scheduled": "Scheduled deprovisioning",
    "deprovision.cancelled": "Cancelled deprovisioning",
    "resource.deprovisioned": "Deprovisioned resource",
}


@dataclass(frozen=True, slots=True)
class ActivityRow:
    """An entry for people: who by email or API key, what, and names (never content)."""

    at: datetime
    who: str
    who_note: str
    action: str
    subject: str
    collection: str | None


class ActivityService:
    def __init__(self, entries: ActivityRepository, access: Access, clock: Clock) -> None:
        self._entries = entries
        self._access = access
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

    def describe(self, entries: Sequence[ActivityEntry]) -> builtins.list[ActivityRow]:
        """The entries as rows; the names behind ids come in one query per kind for the whole list."""
        emails = self._entries.user_emails(_actor_ids(entries, "user:"))
        keys = self._entries.key_descriptions(_actor_ids(entries, "key:"))
        collections = self._entries.collection_names(
            _detail_ids(entries, "document_id"), _detail_ids(entries, "job_id")
        )
        rows = []
        for entry in entries:
            detail = entry.detail
            ref = str(detail.get("document_id") or detail.get("job_id") or "")
            who, who_note = _who(entry.actor, emails, keys)
            rows.append(
                ActivityRow(
                    at=entry.occurred_at,
                    who=who,
                    who_note=who_note,
                    action=ACTION_LABELS.get(entry.action, entry.action),
                    subject=_subject(entry.action, detail),
                    collection=detail.get("collection") or collections.get(ref),
                )
            )
        return rows

    def list(
        self, actor: Actor, resource_id: str, *, offset: int, limit: int
    ) -> tuple[list[ActivityEntry], int]:
        resource = self._access.resource(actor, resource_id, Permission.VIEW)
        return self._entries.page(resource.id, offset=offset, limit=limit)


def _actor_ids(entries: Iterable[ActivityEntry], prefix: str) -> list[str]:
    return sorted({e.actor.removeprefix(prefix) for e in entries if e.actor.startswith(prefix)})


def _detail_ids(entries: Iterable[ActivityEntry], name: str) -> list[str]:
    return sorted({str(e.detail[name]) for e in entries if name in e.detail})


def _who(actor: str, emails: dict[str, str], keys: dict[str, str]) -> tuple[str, str]:
    # "user:<id>": portal uploads logged before they were logged by email (as users' other acts are).
    if actor.startswith("user:"):
        return emails.get(actor.removeprefix("user:"), "A removed user"), ""
    if actor.startswith("key:"):
        key_id = actor.removeprefix("key:")
        return f"API key kb_{key_id}_…", keys.get(key_id, "")
    return actor, ""


def _subject(action: str, detail: dict[str, Any]) -> str:
    if "filename" in detail:
        return str(detail["filename"])
    if action in ("chunks.pushed", "chunks.metadata_updated", "chunks.deleted"):
        return f"{detail.get('mode', '')} job {detail.get('job_id', '')}".strip()
    if "email" in detail:
        return str(detail["email"])
    if "key_id" in detail:
        return f"kb_{detail['key_id']}_…"
    if action == "models.changed":
        return ", ".join(str(m) for m in detail.get("models", []))
    if action in ("capacity.changed", "resource.provisioned"):
        return _capacity_subject(detail)
    if action == "settings.changed":
        return ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in detail.items())
    if action in ("deprovision.scheduled", "deprovision.cancelled") and detail.get("on"):
        return f"on {detail['on']}"
    return ""


def _capacity_subject(detail: dict[str, Any]) -> str:
    size = f"plan {detail['plan']}, " if detail.get("plan") else ""
    text = f"{size}{detail.get('cloud_tokens', 0)} Cloud Tokens"
    if detail.get("scheduled_on"):
        later = f"plan {detail['scheduled_plan']}, " if detail.get("scheduled_plan") else ""
        text += f"; {later}{detail.get('scheduled_cloud_tokens')} Cloud Tokens from {detail['scheduled_on']}"
    return text
