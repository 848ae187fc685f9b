"""Uploading, listing, replacing and deleting documents through the API (tasks drained in-process)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from kb_service.config import Settings
from kb_service.container import Container
from tests.conftest import KB, PDF_DIR, Drainer, upload

FAQ = (
    b"How do I reset my password? Open the account page and choose Reset password. "
    b"A link is sent to your e-mail address.\n\n"
    b"How do I cancel an order? Orders can be cancelled within 14 days from the order history page."
)


def _doc(client: TestClient, kb: KB, doc_id: str) -> dict[str, Any]:
    response = client.get(kb.url(f"/documents/{doc_id}"), headers=kb.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _search(client: TestClient, kb: KB, query: str, **extra: Any) -> list[dict[str, Any]]:
    response = client.post(kb.url("/search"), headers=kb.headers, json={"query": query, **extra})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def test_uploaded_text_file_is_indexed_and_searchable(client: TestClient, kb: KB, drain: Drainer) -> None:
    response = upload(client, kb, "faq.txt", FAQ, metadata={"Category": "FAQ"})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued"
    assert accepted["collection"] == "default"

    drain()

    doc = _doc(client, kb, accepted["id"])
    assert doc["status"] == "indexed", doc["error"]
    assert doc["chunk_count"] >= 1
    assert doc["chunks_embedded"] == doc["chunk_count"]
    assert doc["input_tokens"] > 0
    assert doc["pages"] is None
    assert doc["metadata"] == {"Category": "FAQ"}
    assert doc["timings"]["processing_seconds"] is not None
    hits = _search(client, kb, "forgot my password", metadata={"Category": "FAQ"})
    assert hits[0]["document_id"] == accepted["id"]
    assert "password" in hits[0]["text"]
    assert hits[0]["metadata"] == {"Category": "FAQ"}
    assert hits[0]["human_readable_id"] == "faq.txt"


def test_upload_into_a_new_collection_creates_it(client: TestClient, kb: KB, drain: Drainer) -> None:
    assert upload(client, kb, "faq.txt", FAQ, collection="Tickets").status_code == 202
    drain()

    collections = {c["name"]: c for c in client.get(kb.url("/collections"), headers=kb.headers).json()}
    assert set(collections) == {"default", "Tickets"}
    assert collections["Tickets"]["document_count"] == 1
    assert collections["Tickets"]["chunk_count"] >= 1
    assert collections["default"]["is_default"] is True
    assert collections["default"]["chunk_count"] == 0


def test_pdf_pages_are_kept_per_chunk(client: TestClient, kb: KB, drain: Drainer) -> None:
    pdf = (PDF_DIR / "sf-pdflatex-4-pages.pdf").read_bytes()
    doc_id = upload(client, kb, "four.pdf", pdf, content_type="application/pdf").json()["id"]
    drain()

    doc = _doc(client, kb, doc_id)
    assert doc["status"] == "indexed", doc["error"]
    assert doc["pages"] == 4
    chunks = client.get(kb.url("/collections/default/chunks?limit=100"), headers=kb.headers).json()["items"]
    assert {c["page"] for c in chunks} == {1, 2, 3, 4}
    assert all(c["document_id"] == doc_id for c in chunks)


@pytest.mark.parametrize(
    ("name", "content", "content_type", "status", "code"),
    [
        ("image.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png", 415, "unsupported_media_type"),
        (
            "report.docx",
            b"PK\x03\x04" + b"\0" * 64,
            "application/octet-stream",
            415,
            "unsupported_media_type",
        ),
        ("fake.pdf", b"this is not a pdf at all", "application/pdf", 415, "unsupported_media_type"),
        ("empty.txt", b"", "text/plain", 422, "invalid_input"),
    ],
)
def test_unacceptable_files_are_refused_clearly(
    client: TestClient, kb: KB, name: str, content: bytes, content_type: str, status: int, code: str
) -> None:
    response = upload(client, kb, name, content, content_type=content_type)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert name in error["message"]
    assert client.get(kb.url("/documents"), headers=kb.headers).json()["total"] == 0


def test_file_over_the_size_limit_is_413(
    container: Container, kb: KB, settings: Settings, drain: Drainer
) -> None:
    from kb_service.api import create_app

    container.settings = settings.model_copy(update={"max_upload_bytes": 1000})
    with TestClient(create_app(container=container)) as client:
        response = upload(client, kb, "big.txt", b"word " * 300)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ("not json", "not valid JSON"),
        ('["a", "b"]', "JSON object"),
        ('{"Priority": 3}', "must be a string"),
        ('{"": "x"}', "empty or too long key"),
    ],
)
def test_bad_metadata_is_422(client: TestClient, kb: KB, metadata: str, problem: str) -> None:
    response = client.post(
        kb.url("/documents"),
        headers=kb.headers,
        files={"file": ("faq.txt", FAQ, "text/plain")},
        data={"metadata": metadata},
    )
    assert response.status_code == 422
    assert problem in response.json()["error"]["message"]


def test_missing_file_field_is_422_naming_it(client: TestClient, kb: KB) -> None:
    response = client.post(kb.url("/documents"), headers=kb.headers, data={"collection": "x"})
    assert response.status_code == 422
    assert "file" in response.json()["error"]["message"]


def test_reupload_replaces_old_chunks_only_once_new_ones_are_indexed(
    client: TestClient, kb: KB, drain: Drainer
) -> None:
    first = upload(client, kb, "policy.txt", b"Refunds are possible within 30 days of purchase.").json()["id"]
    drain()
    second_response = upload(client, kb, "policy.txt", b"Refunds are possible within 60 days of purchase.")
    assert second_response.status_code == 202
    second = second_response.json()["id"]

    # Not yet processed: the old version keeps answering.
    hits = _search(client, kb, "refund period")
    assert [h["document_id"] for h in hits] == [first]

    drain()

    hits = _search(client, kb, "refund period")
    assert [h["document_id"] for h in hits] == [second]
    assert "60 days" in hits[0]["text"]
    assert client.get(kb.url(f"/documents/{first}"), headers=kb.headers).status_code == 404
    assert _doc(client, kb, second)["replaces_document_id"] == first
    listed = client.get(kb.url("/documents"), headers=kb.headers).json()
    assert [d["id"] for d in listed["items"]] == [second]


def test_reupload_of_identical_content_is_a_no_op(client: TestClient, kb: KB, drain: Drainer) -> None:
    first = upload(client, kb, "faq.txt", FAQ).json()["id"]
    drain()
    again = upload(client, kb, "faq.txt", FAQ)
    assert again.status_code == 200
    assert again.json() == {"id": first, "status": "indexed", "collection": "default", "unchanged": True}
    assert drain() == 0


def test_same_file_name_in_another_collection_is_a_separate_document(
    client: TestClient, kb: KB, drain: Drainer
) -> None:
    a = upload(client, kb, "faq.txt", FAQ).json()["id"]
    b = upload(client, kb, "faq.txt", FAQ, collection="Other").json()["id"]
    drain()
    assert a != b
    assert _doc(client, kb, a)["status"] == _doc(client, kb, b)["status"] == "indexed"


def test_a_newer_upload_supersedes_an_unprocessed_older_one(
    client: TestClient, kb: KB, drain: Drainer
) -> None:
    older = upload(client, kb, "notes.txt", b"First draft of the notes.").json()["id"]
    newer = upload(client, kb, "notes.txt", b"Final version of the notes.").json()["id"]
    drain()
    assert _doc(client, kb, older)["status"] == "failed"
    assert newer in _doc(client, kb, older)["error"]
    assert _doc(client, kb, newer)["status"] == "indexed"
    assert [h["document_id"] for h in _search(client, kb, "notes")] == [newer]


def test_deleting_a_document_removes_every_chunk(client: TestClient, kb: KB, drain: Drainer) -> None:
    doc_id = upload(client, kb, "faq.txt", FAQ).json()["id"]
    keep = upload(client, kb, "other.txt", b"Shipping takes three working days.").json()["id"]
    drain()

    assert client.delete(kb.url(f"/documents/{doc_id}"), headers=kb.headers).status_code == 204

    assert client.get(kb.url(f"/documents/{doc_id}"), headers=kb.headers).status_code == 404
    hits = _search(client, kb, "reset password", max_results=10)
    assert {h["document_id"] for h in hits} == {keep}
    assert client.delete(kb.url(f"/documents/{doc_id}"), headers=kb.headers).status_code == 404


def test_deleting_a_collection_removes_its_documents_and_chunks(
    client: TestClient, kb: KB, drain: Drainer
) -> None:
    upload(client, kb, "faq.txt", FAQ, collection="Old")
    upload(client, kb, "keep.txt", b"Shipping takes three working days.")
    drain()

    assert client.delete(kb.url("/collections/Old"), headers=kb.headers).status_code == 204

    names = [c["name"] for c in client.get(kb.url("/collections"), headers=kb.headers).json()]
    assert names == ["default"]
    assert client.get(kb.url("/documents"), headers=kb.headers).json()["total"] == 1
    assert all(h["collection"] == "default" for h in _search(client, kb, "password", max_results=10))
    assert client.delete(kb.url("/collections/Old"), headers=kb.headers).status_code == 404


def test_documents_list_filters_by_collection_and_status_and_pages(
    client: TestClient, kb: KB, drain: Drainer
) -> None:
    for i in range(3):
        upload(client, kb, f"a{i}.txt", f"Document number {i} about apples.".encode(), collection="A")
    upload(client, kb, "b.txt", b"A document about bananas.", collection="B")
    upload(client, kb, "blank.txt", b"   \n\n  ", collection="B")
    drain()

    def listing(**params: Any) -> dict[str, Any]:
        body: dict[str, Any] = client.get(kb.url("/documents"), headers=kb.headers, params=params).json()
        return body

    assert listing()["total"] == 5
    assert listing(collection="A")["total"] == 3
    assert listing(collection="missing")["total"] == 0
    failed = listing(status="failed")
    assert [d["filename"] for d in failed["items"]] == ["blank.txt"]
    assert "no" in failed["items"][0]["error"] and "text" in failed["items"][0]["error"]
    page = listing(collection="A", limit=2, offset=2)
    assert (page["total"], len(page["items"]), page["offset"], page["limit"]) == (3, 1, 2, 2)
    assert client.get(kb.url("/documents"), headers=kb.headers, params={"status": "weird"}).status_code == 422


def test_encrypted_pdf_needs_its_password(client: TestClient, kb: KB, drain: Drainer) -> None:
    pdf = (PDF_DIR / "pypdf-encryption-r4-aes-user-password.pdf").read_bytes()
    locked = upload(client, kb, "locked.pdf", pdf, content_type="application/pdf").json()["id"]
    opened = upload(
        client, kb, "opened.pdf", pdf, content_type="application/pdf", password="asdfzxcv"
    ).json()["id"]
    wrong = upload(client, kb, "wrong.pdf", pdf, content_type="application/pdf", password="nope").json()["id"]
    drain()

    locked_doc = _doc(client, kb, locked)
    assert locked_doc["status"] == "failed"
    assert "encrypted" in locked_doc["error"] and "password" in locked_doc["error"]
    assert _doc(client, kb, opened)["status"] == "indexed"
    assert _doc(client, kb, wrong)["status"] == "failed"
    assert "password" in _doc(client, kb, wrong)["error"]


def test_document_deleted_while_being_indexed_leaves_no_chunks(
    client: TestClient, kb: KB, drain: Drainer, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc_id = upload(client, kb, "faq.txt", FAQ).json()["id"]
    write = container.store.write

    def delete_then_write(kb_id: str, items: Any, *, delete_where: Any = None) -> None:
        # The user deletes the document just before the worker's write lands.
        assert client.delete(kb.url(f"/documents/{doc_id}"), headers=kb.headers).status_code == 204
        write(kb_id, items, delete_where=delete_where)

    monkeypatch.setattr(container.store, "write", delete_then_write)
    drain()

    assert container.store.count(kb.id) == 0
    assert client.get(kb.url(f"/documents/{doc_id}"), headers=kb.headers).status_code == 404
