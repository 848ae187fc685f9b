"""The search request path (docs/request-path.md).

A search meters its query in the request's unit of work, but on SQLite (one writer at a time) it
must not hold the database's write lock while it scans the store: concurrent searches would wait on
each other's lock (SQLite's busy handler sleeps, up to seconds at 16 in flight). The usage row is
written by the commit, so the lock is held for that insert and commit only. The endpoint and its
commit share one thread-pool hop, and the KB lookup is one statement."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from kb_service.config import Settings
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.metering.models import UsageEvent
from kb_service.resources.repository import ResourceRepository
from tests.conftest import KB, Drainer


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], tmp_path: Path) -> Settings:
    return settings_factory(database_url=f"sqlite:///{tmp_path / 'state.sqlite3'}")


def _write_lock_free(database: Path) -> bool:
    """Whether another connection can take the write lock right now (BEGIN IMMEDIATE, no waiting)."""
    other = sqlite3.connect(database, timeout=0.0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as busy:
        if "locked" not in str(busy):
            raise
        return False
    finally:
        other.close()


@pytest.fixture
def loaded(client: TestClient, kb: KB, drain: Drainer) -> KB:
    chunk = {"text": "The printer on floor two is out of toner.", "human_readable_id": "T-1"}
    response = client.post(
        kb.url("/collections/Docs/chunks"), headers=kb.headers, json={"mode": "insert", "chunks": [chunk]}
    )
    assert response.status_code == 202, response.text
    drain()
    return kb


def test_the_write_lock_is_free_while_a_search_scans_the_store(
    client: TestClient, container: Container, loaded: KB, tmp_path: Path, monkeypatch: Any
) -> None:
    kb = loaded
    database = tmp_path / "state.sqlite3"
    seen: list[bool] = []
    search = container.store.search

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(_write_lock_free(database))  # the query is embedded and metered by now
        return search(*args, **kwargs)

    monkeypatch.setattr(container.store, "search", watched)
    queries = select(func.count()).select_from(UsageEvent).where(UsageEvent.source == "query")
    with session_scope(container.sessions) as session:
        before = session.scalar(queries) or 0

    response = client.post(kb.url("/search"), headers=kb.headers, json={"query": "toner"})

    assert response.status_code == 200, response.text
    assert seen == [True]
    with session_scope(container.sessions) as session:  # and the usage row was committed, once
        assert session.scalar(queries) == before + 1


def test_a_search_and_its_commit_run_in_one_thread_hop(
    client: TestClient, container: Container, loaded: KB, monkeypatch: Any
) -> None:
    """`UnitOfWorkRoute`: the endpoint and the commit of its unit of work share one hop to the
    thread pool, in one thread (FastAPI's own route makes three: the endpoint, its response's
    validation, the commit). The KB lookup is the request's only other hop."""
    kb = loaded
    search = {"query": "toner"}
    assert client.post(kb.url("/search"), headers=kb.headers, json=search).status_code == 200  # key cached
    threads: dict[str, int] = {}
    hops: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__name__", repr(func)))
        return await run_sync(func, *args, **kwargs)

    def watched(*args: Any, **kwargs: Any) -> Any:
        threads["search"] = threading.get_ident()
        return container_search(*args, **kwargs)

    def committed(_session: Session) -> None:
        threads["commit"] = threading.get_ident()

    container_search = container.store.search
    monkeypatch.setattr(container.store, "search", watched)
    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    event.listen(container.sessions, "after_commit", committed)
    try:
        response = client.post(kb.url("/search"), headers=kb.headers, json=search)
    finally:
        event.remove(container.sessions, "after_commit", committed)

    assert response.status_code == 200, response.text
    assert len(hops) == 2, hops
    assert threads["commit"] == threads["search"]


def test_the_kb_lookup_loads_its_embeddings_resource_in_one_statement(container: Container, kb: KB) -> None:
    statements: list[str] = []

    def executed(*args: Any) -> None:
        statements.append(args[2])

    event.listen(container.engine, "before_cursor_execute", executed)
    try:
        with session_scope(container.sessions) as session:
            found = ResourceRepository(session).get_knowledge_base(kb.id)
            assert found is not None and found.embeddings_resource is not None
            assert found.embeddings_resource.id == kb.embeddings_resource_id
    finally:
        event.remove(container.engine, "before_cursor_execute", executed)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1, statements
