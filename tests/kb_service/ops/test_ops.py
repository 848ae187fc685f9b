"""Health, readiness and metrics."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import KB, Drainer, upload


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "vector_store": "ok"}


def test_ready_is_503_when_the_store_is_unreachable(client: TestClient) -> None:
    container = client.app.state.container  # type: ignore[attr-defined]

    class Down:
        def ping(self) -> None:
            raise ConnectionError("down")

        def __getattr__(self, name: str) -> object:
            return getattr(original, name)

    original = container.store
    container.store = Down()
    try:
        response = client.get("/ready")
    finally:
        container.store = original
    assert response.status_code == 503
    assert response.json()["checks"]["vector_store"].startswith("error")


def test_metrics_report_documents_chunks_tokens_and_latency(
    client: TestClient, kb: KB, drain: Drainer
) -> None:
    upload(client, kb, "a.txt", b"Metrics are numbers about the service.")
    upload(client, kb, "blank.txt", b"   ")
    drain()
    client.post(kb.url("/search"), headers=kb.headers, json={"query": "numbers"})
    doc = client.get(kb.url("/documents"), headers=kb.headers, params={"status": "indexed"}).json()["items"][
        0
    ]

    text = client.get("/metrics").text

    assert 'kb_documents{status="indexed"} 1.0' in text
    assert 'kb_documents{status="failed"} 1.0' in text
    assert f'kb_chunks_indexed{{source="documents"}} {float(doc["chunk_count"])}' in text
    ingestion_tokens = 'kb_embedding_input_tokens_total{model="all-minilm-l6-v2",source="ingestion"}'
    assert f"{ingestion_tokens} {float(doc['input_tokens'])}" in text
    assert 'kb_embedding_calls_total{model="all-minilm-l6-v2",source="query"} 1.0' in text
    assert 'kb_queue_depth{kind="documents"} 0.0' in text
    assert 'route="/v1/knowledge-bases/{kb_id}/search"' in text
    assert "secret" not in text and "numbers about" not in text
