"""Keeping a lease alive while a step of the pipeline runs."""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)


class Heartbeat:
    """Extends the lease from a background thread while the work runs, so that a slow step (a long
    embedding batch, a provider backing off) never lets the lease lapse; a worker that dies stops
    beating and its lease expires. Stops by itself once the lease is lost."""

    def __init__(self, beat: Callable[[], bool], interval_s: float) -> None:
        self._beat = beat
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                if not self._beat():
                    return
            except Exception:  # a database hiccup: the next beat tries again
                log.warning("ingestion.heartbeat.failed", exc_info=True)
