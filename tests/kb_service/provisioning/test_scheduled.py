"""The periodic control-plane work is on the beat schedule and registered with the workers."""

from __future__ import annotations

from collections.abc import Callable

from kb_service.config import Settings
from kb_service.queue.broker import APPLY_SCHEDULED, make_celery, queue_name


def test_apply_scheduled_is_on_the_beat_schedule(settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory()
    entry = make_celery(settings).conf.beat_schedule["controlplane"]
    assert entry["task"] == APPLY_SCHEDULED
    assert entry["options"] == {"queue": queue_name(settings)}


def test_the_worker_app_registers_the_task() -> None:
    from workers.app import app

    assert "workers.tasks.controlplane" in app.conf.include
    app.loader.import_default_modules()
    assert APPLY_SCHEDULED in app.tasks
