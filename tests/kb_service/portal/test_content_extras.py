"""The Content page's extras: PDF passwords, the activity card, and paging through many documents."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from kb_service.activity.models import ActivityEntry
from kb_service.db import session_scope
from kb_service.knowledge.models import Collection, Document, WorkStatus
from kb_service.services import unit_of_work
from tests.conftest import Drainer
from tests.factories.controlplane import ControlPlane
from tests.kb_service.portal.conftest import csrf_of, sign_in, with_password

PDFS = Path(__file__).resolve().parents[4] / "shared" / "pdfs"


def _encrypted_pdf() -> tuple[Path, str]:
    """The encrypted sample PDF with a user password, read from the shared folder (never copied)."""
    manifest = json.loads((PDFS / "manifest.json").read_text())
    entry = next(e for e in manifest if e["file"] == "sf-libreoffice-writer-password.pdf")
    assert entry["encrypted"] and entry["password"]
    return PDFS / entry["file"], entry["password"]


def _admin_with_kb(control_plane: ControlPlane) -> tuple[str, str]:
    admin = with_password(control_plane, control_plane.admin())
    embeddings = control_plane.embeddings(admin, display_name="Vectors")
    kb = control_plane.knowledge_base(admin, embeddings["id"], display_name="Support tickets")
    # Provisioning is in the log too (the KB, Dana joining its team); these tests count content entries.
    with session_scope(control_plane.container.sessions) as session:
        session.execute(delete(ActivityEntry).where(ActivityEntry.resource_id == kb["id"]))
    return admin.email, kb["id"]


def _upload(client: TestClient, kb_id: str, files: list[tuple[str, bytes, str]], **form: Any) -> Any:
    content = f"/portal/resources/{kb_id}/content"
    token = csrf_of(client.get(content).text)
    return client.post(
        f"{content}/upload",
        data={"csrf_token": token, **form},
        files=[("files", f) for f in files],
        follow_redirects=False,
    )


def _documents(client: TestClient, kb_id: str, query: str = "") -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/portal/resources/{kb_id}/documents.json{query}").json()
    return body


@pytest.mark.skipif(not PDFS.is_dir(), reason="the shared sample PDFs are not here")
def test_an_encrypted_pdf_needs_its_password_from_the_upload_form(
    client: TestClient, control_plane: ControlPlane, drain: Drainer
) -> None:
    email, kb_id = _admin_with_kb(control_plane)
    sign_in(client, email)
    path, password = _encrypted_pdf()
    pdf = (path.name, path.read_bytes(), "application/pdf")
    page = client.get(f"/portal/resources/{kb_id}/content").text
    assert re.search(r'<label for="pdf_password">PDF password</label>', page)
    assert re.search(r'<input id="pdf_password" name="pdf_password" type="password" autocomplete="off"', page)

    assert _upload(client, kb_id, [pdf]).status_code == 303
    assert drain() == 1
    (failed,) = _documents(client, kb_id)["items"]
    assert failed["status"] == "failed"
    assert "password" in failed["error"]

    uploaded = _upload(client, kb_id, [pdf], pdf_password=password)
    assert uploaded.status_code == 303
    after = client.get(uploaded.headers["location"]).text
    assert password not in after
    assert drain() == 1
    items = _documents(client, kb_id)["items"]
    indexed = [d for d in items if d["status"] == "indexed"]
    assert len(indexed) == 1
    assert indexed[0]["pages"] == 1
    assert indexed[0]["chunks"] >= 1
    with session_scope(control_plane.container.sessions) as session:
        # Kept only until indexed; the failed attempt was replaced by the one with the password.
        assert session.scalars(select(Document.password)).all() == [None]


def test_a_refused_upload_does_not_echo_the_pdf_password(
    client: TestClient, control_plane: ControlPlane
) -> None:
    email, kb_id = _admin_with_kb(control_plane)
    sign_in(client, email)
    refused = _upload(client, kb_id, [("empty.pdf", b"", "application/pdf")], pdf_password="s3cret-pdf-pass")
    assert refused.status_code == 422
    assert "is empty" in refused.text
    assert "s3cret-pdf-pass" not in refused.text


def test_activity_lists_uploads_and_deletions_by_the_signed_in_users_email(
    client: TestClient, control_plane: ControlPlane, drain: Drainer
) -> None:
    email, kb_id = _admin_with_kb(control_plane)
    sign_in(client, email)
    content = f"/portal/resources/{kb_id}/content"
    assert "No activity yet." in client.get(content).text
    files = [("printer.txt", b"The office printer jams on double-sided pages.", "text/plain")]
    _upload(client, kb_id, files, collection="tickets")
    drain()
    uploaded = _activity_cells(client.get(content).text)
    assert len(uploaded) == 2
    assert all(email in c for c in uploaded)
    assert any("Uploaded document" in c and "printer.txt" in c and "tickets" in c for c in uploaded)
    assert any("Created collection" in c and "tickets" in c for c in uploaded)
    # The same entries through /v1: the portal user's email, as for every other user action.
    with unit_of_work(control_plane.container, control_plane.clock) as services:
        user = services.users.by_email(email)
        assert user is not None
        token = services.users.issue_token(user.id, "tests").secret
    logged = control_plane.client.get(
        f"/v1/resources/{kb_id}/activity", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert {e["actor"] for e in logged["items"]} == {email}

    control_plane.clock.advance(minutes=5)
    (document,) = _documents(client, kb_id)["items"]
    token = csrf_of(client.get(content).text)
    deleted = client.post(f"{content}/documents/{document['id']}/delete", data={"csrf_token": token})
    assert deleted.status_code == 200
    page = client.get(content).text
    cells = _activity_cells(page)
    # Newest first: the deletion, then the upload and the collection it created.
    assert len(cells) == 3
    assert "Deleted document" in cells[0] and "printer.txt" in cells[0] and email in cells[0]
    # The upload's collection was looked up from its document, which is gone now.
    assert [c.removesuffix(" tickets") for c in cells[1:]] == [c.removesuffix(" tickets") for c in uploaded]
    card = page.split('aria-label="Activity"', 1)[1]
    assert "jams" not in card  # names only, never chunk text


def _activity_cells(page: str) -> list[str]:
    """The activity table's rows as plain text, top to bottom."""
    body = page.split('aria-label="Activity"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r)).strip() for r in rows]


def test_activity_pages_twenty_at_a_time_newest_first(
    client: TestClient, control_plane: ControlPlane
) -> None:
    email, kb_id = _admin_with_kb(control_plane)
    sign_in(client, email)
    start = control_plane.clock.now()
    with session_scope(control_plane.container.sessions) as session:
        session.add_all(
            ActivityEntry(
                resource_id=kb_id,
                occurred_at=start + timedelta(minutes=i),
                actor="key:abc123",
                action="document.uploaded",
                detail={"document_id": f"d{i}", "filename": f"file-{i:02d}.txt"},
            )
            for i in range(45)
        )
    content = f"/portal/resources/{kb_id}/content"
    first = client.get(content).text
    assert "Showing 1–20 of 45, newest first" in first
    assert "file-44.txt" in first and "file-25.txt" in first and "file-24.txt" not in first
    assert "API key kb_abc123_…" in first
    assert f'href="{content}?activity=2#activity-title"' in first
    assert "Newer</a>" not in first
    second = client.get(f"{content}?activity=2").text
    assert "Showing 21–40 of 45, newest first" in second
    assert "file-24.txt" in second and "file-05.txt" in second and "file-04.txt" not in second
    assert f'href="{content}#activity-title" rel="prev">Newer' in second
    third = client.get(f"{content}?activity=3").text
    assert "Showing 41–45 of 45" in third and "Older</a>" not in third
    assert "No older activity." in client.get(f"{content}?activity=9").text
    # A hand-edited page number is the first page, not an error.
    assert "Showing 1–20 of 45" in client.get(f"{content}?activity=abc").text


def _insert_documents(control_plane: ControlPlane, kb_id: str, count: int, collection: str) -> None:
    with session_scope(control_plane.container.sessions) as session:
        target = Collection(kb_id=kb_id, name=collection)
        session.add(target)
        session.flush()
        now = control_plane.clock.now()
        session.add_all(
            Document(
                kb_id=kb_id,
                collection_id=target.id,
                filename=f"{collection}-{i:04d}.txt",
                kind="txt",
                content_type="text/plain",
                size_bytes=1000 + i,
                sha256=f"{i:064x}",
                status=WorkStatus.INDEXED if i % 10 else WorkStatus.FAILED,
                error=None if i % 10 else "The file has no text.",
                page_count=1,
                chunk_count=3,
                chunks_embedded=3,
                created_at=now + timedelta(seconds=i),
            )
            for i in range(count)
        )


def test_documents_page_two_hundred_at_a_time_with_filters(
    client: TestClient, control_plane: ControlPlane
) -> None:
    email, kb_id = _admin_with_kb(control_plane)
    _insert_documents(control_plane, kb_id, 450, "manuals")
    _insert_documents(control_plane, kb_id, 30, "tickets")
    sign_in(client, email)
    content = f"/portal/resources/{kb_id}/content"
    first = client.get(content).text
    assert "Showing 1–200 of 480" in first
    assert first.count("<tr data-document-id=") == 200
    assert f'href="{content}?page=2#documents-title" rel="next">Next' in first
    assert 'rel="prev">Previous' not in first
    assert f'data-documents-url="/portal/resources/{kb_id}/documents.json"' in first

    last = client.get(f"{content}?page=3").text
    assert "Showing 401–480 of 480" in last
    assert last.count("<tr data-document-id=") == 80
    assert f'href="{content}?page=2#documents-title" rel="prev">Previous' in last
    assert "Next</a>" not in last
    # The polled rows follow the page shown.
    assert f'data-documents-url="/portal/resources/{kb_id}/documents.json?page=3"' in last
    polled = _documents(client, kb_id, "?page=3")
    assert (len(polled["items"]), polled["total"]) == (80, 480)
    shown = set(re.findall(r'<tr data-document-id="([^"]+)"', last))
    assert {d["id"] for d in polled["items"]} == shown

    failed = client.get(f"{content}?collection=manuals&status=failed").text
    assert "Showing 1–45 of 45" in failed
    assert '<option value="failed" selected>' in failed
    assert "tickets-0" not in failed
    assert (
        f'data-documents-url="/portal/resources/{kb_id}/documents.json?collection=manuals&amp;status=failed"'
        in failed
    )
    assert _documents(client, kb_id, "?collection=manuals&status=failed")["total"] == 45
    # Deleting a row brings the same view back, rebuilt from known fields only.
    (doomed,) = re.findall(r'<tr data-document-id="([^"]+)"', failed)[:1]
    deleted = client.post(
        f"{content}/documents/{doomed}/delete",
        data={"csrf_token": csrf_of(failed), "view": "?collection=manuals&status=failed&next=//evil.example"},
        follow_redirects=False,
    )
    assert deleted.headers["location"] == f"{content}?collection=manuals&status=failed&deleted=document"
    assert "Showing 1–44 of 44" in client.get(deleted.headers["location"]).text
    # Unknown values from a hand-edited query string show everything rather than failing.
    assert "Showing 1–200 of 479" in client.get(f"{content}?status=bogus&page=-1").text
    assert "No documents match this view" in client.get(f"{content}?collection=nope").text
