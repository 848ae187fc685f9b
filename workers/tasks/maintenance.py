"""Periodic maintenance, scheduled by Celery beat."""

from __future__ import annotations

from kb_service.queue.broker import SWEEP
from workers.app import app
from workers.context import ingestion_service


@app.task(name=SWEEP, ignore_result=True)
def sweep() -> int:
    """Re-send unfinished work that nobody holds (crashed worker, lost message)."""
    return ingestion_service().sweep()
