"""Rules every search honours whichever way it is reached: capacity is judged at the app's clock (not
the system's), and a vector-store failure is a JSON error the client can act on, never a bare 500."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kb_service.api import create_app
from kb_service.config import Settings
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.metering.models import UsageEvent
from kb_service.migrations import upgrade
from kb_service.queue.outbox import RecordingDispatcher
from kb_service.vectorstores.base import SearchHit, TransientVectorStoreError, VectorStore, VectorStoreError
from kb_service.vectorstores.factory import build_vector_store
from tests.conftest import KB, create_kb
from tests.factories.controlplane import ControlPlane

QUERY = {"query": "where is the printer manual?"}


def test_search_capacity_is_judged_at_the_injected_clock(control_plane: ControlPlane) -> None:
    cp = control_plane  # its clock stands in January 2026, months away from the system's date
    admin = cp.admin()
    embeddings = cp.embeddings(admin, cloud_tokens=1)  # 100 GU per bundle month
    kb = cp.knowledge_base(admin, embeddings["id"])
    key = cp.client.post(f"/v1/resources/{kb['id']}/keys", headers=admin.headers, json={}).json()
    headers = {"Authorization": f"Bearer {key['secret']}"}
    with session_scope(cp.container.sessions) as session:
        session.add(
            UsageEvent(
                resource_id=embeddings["id"],
                day=cp.clock.now().date(),
                model_id="all-minilm-l6-v2",
                input_tokens=1,
                api_calls=1,
                genai_units=100.0,
                source="query",
            )
        )

    refused = cp.client.post(f"/v1/knowledge-bases/{kb['id']}/search", headers=headers, json=QUERY)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "capacity_exhausted"

    cp.clock.set(date(2026, 2, 20))  # the next bundle month: refilled
    allowed = cp.client.post(f"/v1/knowledge-bases/{kb['id']}/search", headers=headers, json=QUERY)
    assert allowed.status_code == 200, allowed.text


class _FailingSearch:
    """The real store, except that search fails as an overloaded or broken cluster would."""

    def __init__(self, store: VectorStore, error: VectorStoreError) -> None:
        self._store = store
        self._error = error

    def search(self, *_args: Any, **_kwargs: Any) -> list[SearchHit]:
        raise self._error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture(params=["transient", "permanent"])
def failing(
    request: pytest.FixtureRequest, settings: Settings, embedders: EmbedderRegistry
) -> Iterator[tuple[TestClient, KB, int]]:
    transient = request.param == "transient"
    error = TransientVectorStoreError("cluster overloaded") if transient else VectorStoreError("bad index")
    store: Any = _FailingSearch(build_vector_store(settings), error)
    container = Container.build(settings, dispatcher=RecordingDispatcher(), embedders=embedders, store=store)
    upgrade(container.engine)
    kb = create_kb(container)
    with TestClient(create_app(container=container), raise_server_exceptions=False) as client:
        yield client, kb, 503 if transient else 502
    container.close()


def test_a_store_failure_during_search_is_a_json_error(failing: tuple[TestClient, KB, int]) -> None:
    client, kb, expected = failing
    response = client.post(kb.url("/search"), headers=kb.headers, json=QUERY)
    assert response.status_code == expected, response.text
    body = response.json()
    assert body["error"]["code"] in ("upstream_unavailable", "upstream_rejected")
    assert "vector store" in body["error"]["message"]
