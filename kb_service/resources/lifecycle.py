"""Whether a knowledge base still serves its data plane: the one rule every entry point applies.

Deprovisioning is scheduled for the end of the bundle month (`ResourceService.deprovision`) and
carried out by the periodic sweep (`Services.apply_scheduled`), which revokes the keys and drops the
index. Between the day it takes effect and the sweep, and for any caller not holding a key (the
portal), the KB must already refuse: it is checked against the clock, not against the sweep. While
deprovisioning is only scheduled, the KB works as before.

Once in effect, every data-plane call on the KB — uploads, pushed chunks, searches, metadata edits,
evaluations and the reads of its documents, collections and chunks — is a 410 Gone: the index is
gone, so nothing listed would be retrievable (no document shows as `indexed` in a KB with no index).
Work queued before that day is failed by the workers without being embedded or metered.
"""

from __future__ import annotations

from datetime import date

from kb_service.errors import Gone
from kb_service.resources.models import Resource, ResourceStatus


def deprovisioned_on(kb: Resource, today: date) -> date | None:
    """The day the KB's deprovisioning took effect, or None while it serves (only scheduled, too)."""
    if kb.status == ResourceStatus.DEPROVISIONED:
        return kb.deprovision_on or today
    if (
        kb.status == ResourceStatus.DEPROVISIONING_SCHEDULED
        and kb.deprovision_on is not None
        and kb.deprovision_on <= today
    ):
        return kb.deprovision_on
    return None


def scheduled_deprovisioning(kb: Resource, today: date) -> date | None:
    """The day a scheduled (not yet effective) deprovisioning takes effect, else None."""
    if kb.status == ResourceStatus.DEPROVISIONING_SCHEDULED and deprovisioned_on(kb, today) is None:
        return kb.deprovision_on
    return None


def gone_message(kb_id: str, on: date) -> str:
    return (
        f"Knowledge base {kb_id} was deprovisioned on {on.isoformat()}: its index and content are "
        "gone, so it takes no uploads, pushed chunks or searches, and lists nothing."
    )


def ensure_serving(kb: Resource, today: date) -> None:
    """Refuse (410 Gone) any data-plane call on a KB whose deprovisioning took effect."""
    on = deprovisioned_on(kb, today)
    if on is not None:
        raise Gone(
            gone_message(kb.id, on),
            details={"resource_id": kb.id, "deprovisioned_on": on.isoformat()},
        )
