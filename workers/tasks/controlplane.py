"""Periodic control-plane work, scheduled by Celery beat."""

from __future__ import annotations

from kb_service.clock import SystemClock
from kb_service.queue.broker import APPLY_SCHEDULED
from kb_service.services import unit_of_work
from workers.app import app
from workers.context import container


@app.task(name=APPLY_SCHEDULED, ignore_result=True)
def apply_scheduled() -> int:
    """Deferred capacity changes, deprovisioning at bundle-month end, invitation expiry."""
    with unit_of_work(container(), SystemClock()) as services:
        work = services.apply_scheduled()
    return work.capacity_changes + work.deprovisioned + work.invitations_expired
