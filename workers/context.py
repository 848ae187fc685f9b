"""Per-process collaborators of a worker, built once when the worker process starts."""

from __future__ import annotations

import os
import socket
import threading

from kb_service.clock import SystemClock
from kb_service.config import Settings
from kb_service.container import Container
from kb_service.ingestion.service import IngestionService
from kb_service.services import ingestion_service as build_ingestion_service

_lock = threading.Lock()
_container: Container | None = None
_service: IngestionService | None = None


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def ingestion_service() -> IngestionService:
    global _container, _service
    with _lock:
        if _service is None:
            _container = Container.build(Settings())
            _service = build_ingestion_service(_container, SystemClock(), worker_id=worker_id())
        return _service


def container() -> Container:
    ingestion_service()
    assert _container is not None
    return _container


def reset() -> None:
    """Drop the collaborators (after fork, or at shutdown)."""
    global _container, _service
    with _lock:
        if _container is not None:
            _container.close()
        _container, _service = None, None
