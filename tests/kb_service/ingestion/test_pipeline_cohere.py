"""The pipeline with Cohere Embed v3, faked at the HTTP transport: batching, metering, failures."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from kb_service.api import create_app
from kb_service.catalog import get_model
from kb_service.config import CohereSettings, Settings
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.embedders.base import TransientEmbedderError
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.metering.models import UsageEvent
from kb_service.migrations import upgrade
from kb_service.queue.outbox import RecordingDispatcher
from tests.conftest import KB, Drainer, create_kb

MODEL = "embed-english-v3.0"


class FakeCohere:
    """Answers /v2/embed like Cohere: one vector per text, billed tokens = 2 per text + 1 per call.
    `fail_with` makes the next replies an HTTP status instead."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail_with: list[int] = []
        self.billed: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        if self.fail_with:
            return httpx.Response(self.fail_with.pop(0), json={"message": "simulated"})
        billed = 2 * len(body["texts"]) + 1
        self.billed.append(billed)
        vectors = [[1.0 if i == (len(t) % 1024) else 0.01 for i in range(1024)] for t in body["texts"]]
        return httpx.Response(
            200,
            json={
                "id": "r",
                "embeddings": {"float": vectors},
                "texts": body["texts"],
                "meta": {"billed_units": {"input_tokens": billed}},
                "response_type": "embeddings_by_type",
            },
        )


@pytest.fixture
def cohere() -> FakeCohere:
    return FakeCohere()


@pytest.fixture
def cohere_container(settings: Settings, cohere: FakeCohere) -> Iterator[Container]:
    configured = settings.model_copy(
        update={
            "cohere": CohereSettings(
                api_key=SecretStr("sk-test"),
                base_url="https://cohere.test",
                max_retries=2,
                max_backoff_s=0.01,
            )
        }
    )
    http = httpx.Client(transport=httpx.MockTransport(cohere))
    built = Container.build(
        configured, dispatcher=RecordingDispatcher(), embedders=EmbedderRegistry(configured, http_client=http)
    )
    upgrade(built.engine)
    yield built
    built.close()
    http.close()


@pytest.fixture
def cohere_client(cohere_container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=cohere_container)) as client:
        yield client


@pytest.fixture
def cohere_kb(cohere_container: Container) -> KB:
    return create_kb(cohere_container, "Docs", model_id=MODEL)


def _push(client: TestClient, kb: KB, n: int) -> str:
    chunks = [
        {"text": f"Chunk number {i} " + "word " * (i % 7), "human_readable_id": f"c-{i}"} for i in range(n)
    ]
    response = client.post(
        kb.url("/collections/C/chunks"), headers=kb.headers, json={"mode": "insert", "chunks": chunks}
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


@pytest.mark.parametrize("n", [1, 96, 97, 250])
def test_batches_are_ceil_n_over_96_and_metering_is_billed_units(
    cohere_client: TestClient, cohere_kb: KB, cohere_container: Container, cohere: FakeCohere, n: int
) -> None:
    job_id = _push(cohere_client, cohere_kb, n)
    Drainer(cohere_container)()

    job = cohere_client.get(cohere_kb.url(f"/jobs/{job_id}"), headers=cohere_kb.headers).json()
    assert job["status"] == "indexed", job["error"]
    assert len(cohere.bodies) == math.ceil(n / 96)
    assert all(len(b["texts"]) <= 96 for b in cohere.bodies)
    assert {b["input_type"] for b in cohere.bodies} == {"search_document"}
    assert {b["model"] for b in cohere.bodies} == {MODEL}
    with session_scope(cohere_container.sessions) as session:
        tokens, calls, units = session.execute(
            select(
                func.sum(UsageEvent.input_tokens),
                func.sum(UsageEvent.api_calls),
                func.sum(UsageEvent.genai_units),
            ).where(UsageEvent.resource_id == cohere_kb.embeddings_resource_id)
        ).one()
    assert tokens == sum(cohere.billed) == job["input_tokens"]
    assert calls == math.ceil(n / 96)
    assert units == pytest.approx(sum(cohere.billed) * get_model(MODEL).gu_per_m_input / 1e6)

    response = cohere_client.post(
        cohere_kb.url("/search"), headers=cohere_kb.headers, json={"query": "chunk"}
    )
    assert response.status_code == 200
    assert cohere.bodies[-1]["input_type"] == "search_query"
    assert response.json()["input_tokens"] == cohere.billed[-1]


def test_wrong_cohere_key_fails_the_job_at_once_with_a_clear_error(
    cohere_client: TestClient, cohere_kb: KB, cohere_container: Container, cohere: FakeCohere
) -> None:
    job_id = _push(cohere_client, cohere_kb, 3)
    cohere.fail_with = [401]
    Drainer(cohere_container)()

    job = cohere_client.get(cohere_kb.url(f"/jobs/{job_id}"), headers=cohere_kb.headers).json()
    assert job["status"] == "failed"
    assert "API key" in job["error"]
    assert len(cohere.bodies) == 1  # no retry storm
    with session_scope(cohere_container.sessions) as session:
        assert session.scalar(select(func.count(UsageEvent.id))) == 0


def test_transient_errors_release_the_work_for_a_retry_that_then_succeeds(
    cohere_client: TestClient, cohere_kb: KB, cohere_container: Container, cohere: FakeCohere
) -> None:
    job_id = _push(cohere_client, cohere_kb, 3)
    cohere.fail_with = [503, 503, 503]  # more than the embedder's own 2 retries
    drain = Drainer(cohere_container)
    with pytest.raises(TransientEmbedderError):
        drain()  # the Celery task would now retry with backoff

    waiting = cohere_client.get(cohere_kb.url(f"/jobs/{job_id}"), headers=cohere_kb.headers).json()
    assert waiting["status"] == "embedding"
    assert "retry" in waiting["error"]

    drain.service.process_chunk_job(job_id)  # the retry
    done = cohere_client.get(cohere_kb.url(f"/jobs/{job_id}"), headers=cohere_kb.headers).json()
    assert done["status"] == "indexed"
    assert done["error"] is None
    listing = cohere_client.get(cohere_kb.url("/collections/C/chunks"), headers=cohere_kb.headers).json()
    assert listing["total"] == 3


def test_search_answers_503_when_cohere_is_unavailable_and_502_when_it_refuses(
    cohere_client: TestClient, cohere_kb: KB, cohere: FakeCohere
) -> None:
    cohere.fail_with = [503, 503, 503]
    response = cohere_client.post(cohere_kb.url("/search"), headers=cohere_kb.headers, json={"query": "x"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "upstream_unavailable"
    cohere.fail_with = [401]
    response = cohere_client.post(cohere_kb.url("/search"), headers=cohere_kb.headers, json={"query": "x"})
    assert response.status_code == 502
    assert "API key" in response.json()["error"]["message"]
