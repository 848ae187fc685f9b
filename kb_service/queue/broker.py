"""The Celery application's configuration, shared by the API (which sends by task name) and the
workers (which register the tasks). The API never imports `workers`."""

from __future__ import annotations

from typing import Any

from celery import Celery

from kb_service.config import Settings

# Task names are part of the wire contract between the API and the workers.
PROCESS_DOCUMENT = "ingestion.process_document"
PROCESS_CHUNK_JOB = "ingestion.process_chunk_job"
SWEEP = "maintenance.sweep"
APPLY_SCHEDULED = "controlplane.apply_scheduled"
# Bundle months change at day granularity; every few minutes keeps the lag short and the cost nil.
APPLY_SCHEDULED_INTERVAL_S = 300.0


def queue_name(settings: Settings) -> str:
    return f"{settings.queue_prefix}.ingestion"


def make_celery(settings: Settings) -> Celery:
    broker_url = settings.resolved_broker_url
    if broker_url.startswith("sqla+"):
        _tune_sqlalchemy_transport(settings.worker.sqlite_polling_interval_s)
    app = Celery("kb_service", broker=broker_url, set_as_current=False)
    queue = queue_name(settings)
    config: dict[str, Any] = {
        "task_default_queue": queue,
        "task_routes": {
            "ingestion.*": {"queue": queue},
            "maintenance.*": {"queue": queue},
            "controlplane.*": {"queue": queue},
        },
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_ignore_result": True,
        "worker_prefetch_multiplier": 1,
        "worker_hijack_root_logger": False,
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "beat_schedule": {
            "sweep": {
                "task": SWEEP,
                "schedule": settings.worker.sweep_interval_s,
                "options": {"queue": queue},
            },
            "controlplane": {
                "task": APPLY_SCHEDULED,
                "schedule": APPLY_SCHEDULED_INTERVAL_S,
                "options": {"queue": queue},
            },
        },
        "beat_schedule_filename": str(settings.resolved_data_dir / "celerybeat-schedule"),
    }
    if broker_url.startswith("redis"):
        # Unacknowledged messages come back after this long (acks_late + a killed worker).
        config["broker_transport_options"] = {"visibility_timeout": 3600}
    app.conf.update(config)
    return app


def _tune_sqlalchemy_transport(interval_s: float) -> None:
    # The SQLAlchemy transport rejects `polling_interval` in broker_transport_options, so it is set on
    # the transport class: 1 s (the default) costs ~1 s per task; 0.1 s about 110 ms.
    from kombu.transport import sqlalchemy as sqla_transport

    sqla_transport.Transport.polling_interval = interval_s


class CeleryDispatcher:
    def __init__(self, app: Celery, queue: str) -> None:
        self._app = app
        self._queue = queue

    def send(self, task_name: str, *args: str) -> None:
        self._app.send_task(task_name, args=list(args), queue=self._queue)
