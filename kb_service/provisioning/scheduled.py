"""The periodic control-plane work (Celery beat runs it; it is idempotent, so running it often or
twice is harmless): deferred capacity changes at the new bundle month, deprovisioning at the end of
the bundle month, invitation expiry."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy.orm import Session, sessionmaker

from kb_service.capacity.service import CapacityService
from kb_service.clock import Clock
from kb_service.db import session_scope
from kb_service.provisioning.service import ProvisioningService
from kb_service.teams.repository import TeamRepository
from kb_service.vectorstores.base import VectorStore

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ScheduledWork:
    capacity_changes: int
    deprovisioned: int
    invitations_expired: int


def apply_scheduled(sessions: sessionmaker[Session], store: VectorStore, clock: Clock) -> ScheduledWork:
    with session_scope(sessions) as session:
        # Changes first: a resource that is also deprovisioned today frees what it holds after them.
        changes = CapacityService(session, clock).apply_due_changes()
        deprovisioned = ProvisioningService(session, store, clock).carry_out_deprovisions()
        expired = TeamRepository(session).expire_invitations(clock.now())
    work = ScheduledWork(changes, deprovisioned, expired)
    if changes or deprovisioned or expired:
        log.info(
            "controlplane.scheduled_applied",
            capacity_changes=changes,
            deprovisioned=deprovisioned,
            invitations_expired=expired,
        )
    return work
