"""`rerank: true` with Cohere Rerank through the HTTP API, against a fake Cohere on a loopback
server (the deployment's settings point at it), and its metering on the linked embeddings resource."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kb_service.config import Settings
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.metering.models import UsageEvent
from tests.conftest import KB, Drainer

TEXTS = {
    "T-1": "The printer on floor two is out of toner.",
    "T-2": "The printer jams when printing double-sided pages.",
    "T-3": "Printer drivers for the new laptops.",
}


class FakeCohereRerank:
    """Scores a document 0.9 if it mentions "jams", else 0.1 (so the rerank visibly reorders), and
    bills `search_units` per call."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.search_units = 1
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "auth": self.headers["Authorization"], **body})
                scores = [0.9 if "jams" in doc else 0.1 for doc in body["documents"]]
                order = sorted(range(len(scores)), key=lambda i: -scores[i])
                payload = json.dumps(
                    {
                        "id": "rr",
                        "results": [{"index": i, "relevance_score": scores[i]} for i in order],
                        "meta": {"billed_units": {"search_units": fake.search_units}},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def cohere() -> Iterator[FakeCohereRerank]:
    fake = FakeCohereRerank()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], db_url: str, cohere: FakeCohereRerank) -> Settings:
    return settings_factory(
        database_url=db_url,
        rerank={"provider": "cohere", "model": "rerank-v3.5", "max_retries": 0},
        cohere={"api_key": "loopback-key", "base_url": cohere.url},
    )


@pytest.fixture
def loaded(client: TestClient, kb: KB, drain: Drainer) -> KB:
    chunks = [{"text": text, "human_readable_id": hid} for hid, text in TEXTS.items()]
    response = client.post(
        kb.url("/collections/Tickets/chunks"), headers=kb.headers, json={"mode": "insert", "chunks": chunks}
    )
    assert response.status_code == 202
    drain()
    return kb


def rerank_events(container: Container, resource_id: str) -> list[UsageEvent]:
    with session_scope(container.sessions) as session:
        events = session.scalars(
            select(UsageEvent).where(UsageEvent.resource_id == resource_id, UsageEvent.source == "rerank")
        ).all()
        session.expunge_all()
    return list(events)


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_rerank_reorders_the_candidates_and_is_metered(
    client: TestClient, loaded: KB, container: Container, cohere: FakeCohereRerank, mode: str
) -> None:
    cohere.search_units = 2
    response = client.post(
        loaded.url("/search"),
        headers=loaded.headers,
        json={"query": "printer toner", "mode": mode, "rerank": True, "max_results": 2, "candidates": 10},
    )
    assert response.status_code == 200, response.text
    body = response.json()

    results = body["results"]
    assert results[0]["human_readable_id"] == "T-2"  # the fake reranker prefers "jams"
    assert [hit["rerank_score"] for hit in results] == [0.9, 0.1]
    assert [hit["score"] for hit in results] == [0.9, 0.1]
    assert body["rerank"] == {"model_id": "rerank-v3.5", "search_units": 2}
    (sent,) = cohere.requests
    assert sent["path"] == "/v2/rerank" and sent["auth"] == "Bearer loopback-key"
    assert sent["query"] == "printer toner" and sent["model"] == "rerank-v3.5"
    # Every candidate (up to `candidates`) is sent, not only max_results.
    assert sorted(sent["documents"]) == sorted(TEXTS.values())
    (event,) = rerank_events(container, loaded.embeddings_resource_id)
    assert (event.model_id, event.api_calls, event.input_tokens, event.output_tokens) == (
        "rerank-v3.5",
        1,
        0,
        0,
    )
    assert event.genai_units == pytest.approx(2 * 0.6046)
    assert event.reference_id == loaded.id


def test_without_rerank_cohere_is_not_called(
    client: TestClient, loaded: KB, cohere: FakeCohereRerank
) -> None:
    response = client.post(loaded.url("/search"), headers=loaded.headers, json={"query": "printer"})
    assert response.status_code == 200 and response.json()["rerank"] is None
    assert cohere.requests == []
