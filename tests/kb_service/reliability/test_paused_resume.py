"""A document paused part-way (its embeddings resource ran out of capacity) resumes from the batches
already embedded: across the pause and the resume every chunk is embedded — and metered — exactly
once, counted at the embedder port and in the metering rows (issue 13)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from kb_service.config import Settings
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.knowledge.models import EmbeddedBatch
from kb_service.metering.models import UsageEvent
from tests.conftest import KB, Drainer, upload
from tests.factories.controlplane import ControlPlane
from tests.kb_service.reliability.counting import CountingEmbedders, counting_container

BATCH = 2
# Eight paragraphs far apart in meaning, each long enough to be a chunk of its own.
PARAGRAPHS = [
    f"Section {n}. " + " ".join(f"{word}{n}" for word in ("alpha", "beta", "gamma", "delta") * 40)
    for n in range(8)
]


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], db_url: str) -> Settings:
    # Small batches, so the document takes several calls; paused work is re-sent by the next sweep.
    return settings_factory(database_url=db_url, worker={"sweep_interval_s": 0.0, "embed_batch_size": BATCH})


@pytest.fixture
def counted(embedders: EmbedderRegistry) -> CountingEmbedders:
    return CountingEmbedders(embedders)


@pytest.fixture
def container(settings: Settings, counted: CountingEmbedders) -> Iterator[Container]:
    yield from counting_container(settings, counted)


def _json(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _ingestion_usage(container: Container, document_id: str) -> tuple[int, int]:
    """(metering rows, metered input tokens) of the document's ingestion."""
    with session_scope(container.sessions) as session:
        where = (UsageEvent.source == "ingestion", UsageEvent.reference_id == document_id)
        rows = session.scalar(select(func.count(UsageEvent.id)).where(*where)) or 0
        tokens = session.scalar(select(func.sum(UsageEvent.input_tokens)).where(*where)) or 0
        return rows, int(tokens)


def test_a_paused_document_resumes_from_the_batches_already_embedded(
    control_plane: ControlPlane, drain: Drainer, counted: CountingEmbedders
) -> None:
    cp = control_plane
    today = datetime.now(UTC).date()
    cp.clock.set(today)  # the pipeline meters at the real time
    admin = cp.admin(tokens=100)
    embeddings = cp.embeddings(admin, cloud_tokens=1)
    kb_resource = cp.knowledge_base(admin, embeddings["id"])
    key = _json(
        cp.client.post(f"/v1/resources/{kb_resource['id']}/keys", headers=admin.headers, json={}), 201
    )
    kb = KB(kb_resource["id"], embeddings["id"], key["secret"])

    def exhaust_after_the_second_call(calls: int) -> None:
        # Other use takes the rest of the bundle month's GU once two batches are embedded.
        if calls == 2:
            with session_scope(cp.container.sessions) as session:
                session.add(
                    UsageEvent(
                        resource_id=embeddings["id"],
                        day=today,
                        model_id="all-minilm-l6-v2",
                        genai_units=100.0,
                        source="query",
                    )
                )

    counted.calls.after_call = exhaust_after_the_second_call
    accepted = _json(upload(cp.client, kb, "sections.txt", "\n\n".join(PARAGRAPHS).encode()), 202)
    drain()
    paused = _json(cp.client.get(kb.url(f"/documents/{accepted['id']}"), headers=kb.headers))
    assert paused["status"] == "paused", paused
    chunks = paused["chunk_count"]
    assert chunks > 2 * BATCH  # more batches to go
    assert counted.calls.texts == [BATCH, BATCH]
    assert paused["chunks_embedded"] == 2 * BATCH
    assert _ingestion_usage(cp.container, accepted["id"])[0] == 2
    with session_scope(cp.container.sessions) as session:
        assert session.scalar(select(func.count()).select_from(EmbeddedBatch)) == 2

    counted.calls.after_call = None
    raised = cp.client.put(
        f"/v1/resources/{embeddings['id']}/capacity", headers=admin.headers, json={"cloud_tokens": 3}
    )
    assert raised.status_code == 200, raised.text
    drain.service.sweep()
    drain()
    done = _json(cp.client.get(kb.url(f"/documents/{accepted['id']}"), headers=kb.headers))
    assert (done["status"], done["error"], done["chunks_embedded"]) == ("indexed", None, chunks)

    # Every chunk embedded once: the resume called the embedder only for the batches still to do.
    batches = -(-chunks // BATCH)
    assert counted.calls.count == batches
    assert counted.calls.total_texts == chunks
    rows, tokens = _ingestion_usage(cp.container, accepted["id"])
    assert rows == batches
    assert tokens == done["input_tokens"] > 0
    with session_scope(cp.container.sessions) as session:
        assert session.scalar(select(func.count()).select_from(EmbeddedBatch)) == 0
    page = _json(
        cp.client.get(kb.url("/collections/default/chunks"), headers=kb.headers, params={"limit": 200})
    )
    assert page["total"] == chunks


def test_deleting_a_paused_document_drops_its_kept_batches(
    control_plane: ControlPlane, drain: Drainer, counted: CountingEmbedders
) -> None:
    cp = control_plane
    today = datetime.now(UTC).date()
    cp.clock.set(today)
    admin = cp.admin(tokens=100)
    embeddings = cp.embeddings(admin, cloud_tokens=1)
    kb_resource = cp.knowledge_base(admin, embeddings["id"])
    key = _json(
        cp.client.post(f"/v1/resources/{kb_resource['id']}/keys", headers=admin.headers, json={}), 201
    )
    kb = KB(kb_resource["id"], embeddings["id"], key["secret"])

    def exhaust(calls: int) -> None:
        with session_scope(cp.container.sessions) as session:
            session.add(
                UsageEvent(
                    resource_id=embeddings["id"],
                    day=today,
                    model_id="all-minilm-l6-v2",
                    genai_units=100.0,
                    source="query",
                )
            )

    counted.calls.after_call = exhaust
    accepted = _json(upload(cp.client, kb, "sections.txt", "\n\n".join(PARAGRAPHS).encode()), 202)
    drain()
    assert (
        _json(cp.client.get(kb.url(f"/documents/{accepted['id']}"), headers=kb.headers))["status"] == "paused"
    )
    with session_scope(cp.container.sessions) as session:
        assert session.scalar(select(func.count()).select_from(EmbeddedBatch)) == 1
    assert cp.client.delete(kb.url(f"/documents/{accepted['id']}"), headers=kb.headers).status_code == 204
    with session_scope(cp.container.sessions) as session:
        assert session.scalar(select(func.count()).select_from(EmbeddedBatch)) == 0
