"""End to end through real workers, in the embedded and the distributed mode alike."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.knowledge.models import Document
from kb_service.metering.models import UsageEvent
from tests.conftest import KB, PDF_DIR, create_kb, upload
from tests.workers.conftest import TERMINAL, Mode, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.timeout(900)]

MANIFEST = json.loads((PDF_DIR / "manifest.json").read_text())


def _statuses(client: TestClient, kb: KB) -> dict[str, dict[str, Any]]:
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = client.get(
            kb.url("/documents"), headers=kb.headers, params={"offset": offset, "limit": 200}
        ).json()
        items += page["items"]
        offset += len(page["items"])
        if offset >= page["total"]:
            return {d["id"]: d for d in items}


def _all_terminal(client: TestClient, kb: KB) -> bool:
    return all(d["status"] in TERMINAL for d in _statuses(client, kb).values())


def _assert_chunk_counts_exact(container: Container, kb: KB, docs: dict[str, dict[str, Any]]) -> None:
    stored = container.store.count_by(kb.id, "document_id")
    for doc in docs.values():
        if doc["status"] == "indexed":
            assert stored.get(doc["id"], 0) == doc["chunk_count"], doc["filename"]
        else:
            assert stored.get(doc["id"], 0) == 0, doc["filename"]
    assert container.store.count(kb.id) == sum(
        d["chunk_count"] or 0 for d in docs.values() if d["status"] == "indexed"
    )


def test_every_shared_pdf_ends_indexed_or_failed_with_a_reason(
    mode: Mode, live: tuple[Container, TestClient]
) -> None:
    container, client = live
    kb = create_kb(container)
    mode.start_worker()
    expected: dict[str, str] = {}
    for entry in MANIFEST:
        data = (PDF_DIR / entry["file"]).read_bytes()
        password = entry["password"] or None
        response = upload(
            client,
            kb,
            entry["file"],
            data,
            content_type="application/pdf",
            password=password,
            metadata={"source": "shared", "category": entry["category"]},
        )
        assert response.status_code == 202, (entry["file"], response.text)
        expected[response.json()["id"]] = entry["file"]
    locked = next(e for e in MANIFEST if e["password"])
    response = upload(
        client,
        kb,
        "locked-" + locked["file"],
        (PDF_DIR / locked["file"]).read_bytes(),
        content_type="application/pdf",
    )
    expected[response.json()["id"]] = "locked"

    wait_until(lambda: _all_terminal(client, kb), 600, "all PDFs to finish", mode)

    docs = _statuses(client, kb)
    assert set(docs) == set(expected)
    for doc_id, doc in docs.items():
        name = expected[doc_id]
        if doc["status"] == "failed":
            assert doc["error"], name
        else:
            assert doc["chunk_count"] > 0 and doc["pages"] >= 1, name
    by_name = {expected[d["id"]]: d for d in docs.values()}
    assert by_name["locked"]["status"] == "failed" and "password" in by_name["locked"]["error"]
    for entry in MANIFEST:
        doc = by_name[entry["file"]]
        if entry["category"] == "image-only":
            assert doc["status"] == "failed" and "no extractable text" in doc["error"], entry["file"]
        elif (entry["chars_extracted_pypdf_no_password"] or 0) > 500 or entry["password"]:
            assert doc["status"] == "indexed", (entry["file"], doc["error"])
    _assert_chunk_counts_exact(container, kb, docs)

    response = client.post(
        kb.url("/search"),
        headers=kb.headers,
        json={"query": "git version control", "metadata": {"source": "shared"}, "max_results": 3},
    )
    assert response.status_code == 200
    assert len(response.json()["results"]) == 3


def test_worker_killed_mid_ingestion_resumes_after_restart(
    mode: Mode, live: tuple[Container, TestClient]
) -> None:
    container, client = live
    kb = create_kb(container)
    paragraphs = [
        f"Paragraph {i} of the handbook explains procedure {i} in detail. " * 12 for i in range(220)
    ]
    big = upload(client, kb, "handbook.txt", "\n\n".join(paragraphs).encode()).json()["id"]
    small = [
        upload(client, kb, f"note-{i}.txt", f"Short note number {i} about topic {i}.".encode()).json()["id"]
        for i in range(5)
    ]
    worker = mode.start_worker()

    def embedding_started() -> bool:
        doc: dict[str, Any] = client.get(kb.url(f"/documents/{big}"), headers=kb.headers).json()
        return bool(doc["status"] == "embedding" and doc["chunks_embedded"] > 0)

    wait_until(embedding_started, 300, "the big document to be half-embedded", mode)
    mode.kill(worker)
    mode.start_worker()

    wait_until(lambda: _all_terminal(client, kb), 600, "every document to finish after the restart", mode)
    docs = _statuses(client, kb)
    assert {d["status"] for d in docs.values()} == {"indexed"}, [d["error"] for d in docs.values()]
    assert set(docs) == {big, *small}
    assert docs[big]["chunk_count"] > 96
    _assert_chunk_counts_exact(container, kb, docs)
    with session_scope(container.sessions) as session:
        assert session.get(Document, big).attempts >= 2  # type: ignore[union-attr]


def test_metering_matches_documents_and_batches(mode: Mode, live: tuple[Container, TestClient]) -> None:
    container, client = live
    kb = create_kb(container)
    ids = []
    for d in range(4):
        text = "\n\n".join(
            f"Section {i} of {d}: the warranty covers part {i} for two years. " * 6 for i in range(40)
        )
        ids.append(upload(client, kb, f"warranty-{d}.txt", text.encode()).json()["id"])
    mode.start_worker()
    if mode.name == "distributed":
        mode.start_worker(beat=False)  # two workers: no document processed twice, no double metering

    wait_until(lambda: _all_terminal(client, kb), 600, "the documents to finish", mode)
    docs = _statuses(client, kb)
    assert {d["status"] for d in docs.values()} == {"indexed"}
    _assert_chunk_counts_exact(container, kb, docs)
    with session_scope(container.sessions) as session:
        for doc_id in ids:
            tokens, calls = session.execute(
                select(func.sum(UsageEvent.input_tokens), func.sum(UsageEvent.api_calls)).where(
                    UsageEvent.reference_id == doc_id, UsageEvent.resource_id == kb.embeddings_resource_id
                )
            ).one()
            assert tokens == docs[doc_id]["input_tokens"]
            assert calls == math.ceil(docs[doc_id]["chunk_count"] / 96)
            assert session.get(Document, doc_id).attempts == 1  # type: ignore[union-attr]
