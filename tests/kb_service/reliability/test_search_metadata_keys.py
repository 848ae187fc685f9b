"""A metadata key no document can carry (empty, blank, over 200 characters) is refused with our 422
wherever it arrives — search `metadata`, search `filter`, the chunk listing — before the query is
embedded or metered."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.metering.models import UsageEvent
from tests.conftest import KB


def _usage_events(container: Container) -> int:
    with session_scope(container.sessions) as session:
        return session.scalar(select(func.count()).select_from(UsageEvent)) or 0


@pytest.mark.parametrize("key", ["", " ", "k" * 201])
def test_search_with_a_bad_metadata_key_is_a_422_before_embedding(
    client: TestClient, kb: KB, container: Container, key: str
) -> None:
    before = _usage_events(container)
    response = client.post(kb.url("/search"), headers=kb.headers, json={"query": "q", "metadata": {key: "x"}})
    assert response.status_code == 422, response.text  # was a 500, then a 502 from the store
    assert response.json()["error"]["details"]["field"] == "metadata"
    assert _usage_events(container) == before  # nothing embedded, nothing metered


@pytest.mark.parametrize("key", ["", " "])
def test_a_filter_condition_on_a_bad_key_is_the_same_422(client: TestClient, kb: KB, key: str) -> None:
    body = {"query": "q", "filter": {"key": key, "eq": "x"}}
    response = client.post(kb.url("/search"), headers=kb.headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == "filter"


def test_the_chunk_listing_refuses_a_bad_metadata_key(client: TestClient, kb: KB) -> None:
    response = client.get(
        kb.url("/collections/default/chunks"), headers=kb.headers, params={"metadata": '{"": "x"}'}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == "metadata"


def test_a_good_metadata_key_still_searches(client: TestClient, kb: KB) -> None:
    body = {"query": "q", "metadata": {"Product": "Printer"}}
    assert client.post(kb.url("/search"), headers=kb.headers, json=body).status_code == 200
