"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from kb_service.deps import ContainerDep, UnitOfWorkRoute

router = APIRouter(route_class=UnitOfWorkRoute, tags=["operations"])


@router.get("/health")
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "A dependency is unreachable."}})
def ready(container: ContainerDep) -> JSONResponse:
    """The state database, the broker and the vector store are reachable."""
    checks: dict[str, Any] = {}
    checks["database"] = _check(lambda: _ping_database(container))
    checks["broker"] = _check(lambda: _ping_broker(container))
    checks["vector_store"] = _check(container.store.ping)
    ok = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )


def _check(probe: Any) -> str:
    try:
        probe()
    except Exception as exc:  # readiness reports any failure, it never raises
        return f"error: {type(exc).__name__}"
    return "ok"


def _ping_database(container: Any) -> None:
    with container.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _ping_broker(container: Any) -> None:
    from kb_service.queue.broker import make_celery

    with make_celery(container.settings).connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)
