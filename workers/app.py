"""The Celery application the workers run: `celery -A workers.app worker` (or `kb-service worker`)."""

from __future__ import annotations

from typing import Any

from celery.signals import worker_process_init, worker_process_shutdown, worker_ready

from kb_service.config import Settings
from kb_service.embedders.factory import warm_up
from kb_service.observability import configure_logging
from kb_service.queue.broker import make_celery
from workers import context

settings = Settings()
app = make_celery(settings)
app.conf.include = ["workers.tasks.ingestion", "workers.tasks.maintenance", "workers.tasks.controlplane"]


@worker_process_init.connect
def _init_process(**_: Any) -> None:
    # Connections must not be shared across a fork.
    context.reset()


@worker_process_shutdown.connect
def _shutdown_process(**_: Any) -> None:
    context.reset()


@worker_ready.connect
def _on_ready(**_: Any) -> None:
    configure_logging(settings)
    service = context.ingestion_service()
    warm_up(context.container().embedders, settings)
    # Pick up whatever a previous worker left unfinished, without waiting for the first beat.
    service.sweep()
