"""Re-uploading a failed encrypted PDF with its password replaces the failed row: the KB ends with one
row for the file, indexed, and the failed attempt is gone (issue 13; before: two rows, one failed)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.conftest import KB, PDF_DIR, Drainer, upload

LOCKED = "sf-libreoffice-writer-password.pdf"


@pytest.mark.skipif(not (PDF_DIR / "manifest.json").is_file(), reason="the shared sample PDFs are not here")
def test_a_failed_encrypted_pdf_sent_again_with_its_password_replaces_the_failed_row(
    client: TestClient, kb: KB, drain: Drainer
) -> None:
    manifest = json.loads((PDF_DIR / "manifest.json").read_text())
    password = next(e["password"] for e in manifest if e["file"] == LOCKED)
    pdf = (PDF_DIR / LOCKED).read_bytes()

    first = upload(client, kb, LOCKED, pdf, content_type="application/pdf").json()
    drain()
    failed = client.get(kb.url(f"/documents/{first['id']}"), headers=kb.headers).json()
    assert failed["status"] == "failed" and "password" in failed["error"]

    second = upload(client, kb, LOCKED, pdf, content_type="application/pdf", password=password)
    assert second.status_code == 202
    drain()
    listing = client.get(kb.url("/documents"), headers=kb.headers).json()
    assert listing["total"] == 1
    (only,) = listing["items"]
    assert (only["id"], only["status"]) == (second.json()["id"], "indexed")
    assert client.get(kb.url(f"/documents/{first['id']}"), headers=kb.headers).status_code == 404
    collections = client.get(kb.url("/collections"), headers=kb.headers).json()
    assert [(c["name"], c["document_count"]) for c in collections] == [("default", 1)]
