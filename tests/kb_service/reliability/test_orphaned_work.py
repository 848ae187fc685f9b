"""A worker killed mid-document: once its lease expires, the next worker to take any message resumes
that document first — from the batches already embedded — instead of leaving it behind the whole
queue until the sweep's re-sent message comes up (issue 13)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from kb_service.config import Settings
from kb_service.container import Container
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.queue.broker import PROCESS_DOCUMENT
from kb_service.queue.outbox import RecordingDispatcher
from kb_service.services import ingestion_service
from tests.conftest import KB, upload
from tests.factories.controlplane import MovableClock
from tests.kb_service.reliability.counting import CountingEmbedders, counting_container

BATCH = 2
LONG = "\n\n".join(
    f"Chapter {n}. " + " ".join(f"{word}{n}" for word in ("north", "south", "east", "west") * 40)
    for n in range(6)
).encode()


class Killed(BaseException):
    """Stands for SIGKILL: escapes every handler, so the worker neither finishes nor releases."""


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], db_url: str) -> Settings:
    return settings_factory(database_url=db_url, worker={"embed_batch_size": BATCH})


@pytest.fixture
def counted(embedders: EmbedderRegistry) -> CountingEmbedders:
    return CountingEmbedders(embedders)


@pytest.fixture
def container(settings: Settings, counted: CountingEmbedders) -> Iterator[Container]:
    yield from counting_container(settings, counted)


def _status(client: TestClient, kb: KB, document_id: str) -> str:
    status: str = client.get(kb.url(f"/documents/{document_id}"), headers=kb.headers).json()["status"]
    return status


def test_a_killed_workers_document_resumes_before_the_queue(
    client: TestClient, kb: KB, container: Container, counted: CountingEmbedders, settings: Settings
) -> None:
    dispatcher = container.dispatcher
    assert isinstance(dispatcher, RecordingDispatcher)
    clock = MovableClock(datetime.now(UTC))
    orphan = upload(client, kb, "long.txt", LONG).json()["id"]
    dispatcher.sent.clear()

    def kill_during_the_second_batch(calls: int) -> None:
        if calls == 2:
            raise Killed  # the first batch is metered and kept; the second is lost with the worker

    counted.calls.after_call = kill_during_the_second_batch
    with pytest.raises(Killed):
        ingestion_service(container, clock, worker_id="worker-a").process_document(orphan)
    counted.calls.after_call = None
    assert _status(client, kb, orphan) == "embedding"  # held by the dead worker's lease

    queued = [upload(client, kb, f"note-{n}.txt", f"Short note {n}.".encode()).json()["id"] for n in range(3)]
    assert [args for name, args in dispatcher.sent if name == PROCESS_DOCUMENT] == [(q,) for q in queued]

    clock.advance(seconds=settings.worker.lease_s + 1)  # the dead worker's lease has run out
    other = ingestion_service(container, clock, worker_id="worker-b")
    other.process_document(queued[0])  # the next message of the queue

    assert _status(client, kb, orphan) == "indexed"
    assert [_status(client, kb, q) for q in queued] == ["indexed", "queued", "queued"]
    document = client.get(kb.url(f"/documents/{orphan}"), headers=kb.headers).json()
    # Resumed after the batch the dead worker had embedded and metered: the resume embedded the
    # other chunks of the document, each once (and the one-chunk note).
    assert counted.calls.texts[:2] == [BATCH, BATCH]
    assert sum(counted.calls.texts[2:]) == document["chunk_count"] - BATCH + 1
    assert document["chunks_embedded"] == document["chunk_count"]


def test_work_whose_lease_is_still_running_is_left_to_its_worker(
    client: TestClient, kb: KB, container: Container, counted: CountingEmbedders
) -> None:
    clock = MovableClock(datetime.now(UTC))
    held = upload(client, kb, "long.txt", LONG).json()["id"]

    def stall(calls: int) -> None:
        if calls == 1:
            raise Killed

    counted.calls.after_call = stall
    with pytest.raises(Killed):
        ingestion_service(container, clock, worker_id="worker-a").process_document(held)
    counted.calls.after_call = None
    note = upload(client, kb, "note.txt", b"Short note.").json()["id"]
    clock.advance(seconds=timedelta(seconds=10).total_seconds())  # well within the lease
    ingestion_service(container, clock, worker_id="worker-b").process_document(note)
    assert (_status(client, kb, held), _status(client, kb, note)) == ("embedding", "indexed")
