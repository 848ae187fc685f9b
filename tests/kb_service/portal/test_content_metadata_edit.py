"""The documents table's "Edit metadata" form: saved through the same service as `PATCH
…/documents/{id}` (a metadata job, nothing re-embedded), shown in the row and seen by the next search,
refused with the upload form's rules next to the row."""

from __future__ import annotations

import html
import re

import httpx2
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.knowledge.uploads import MAX_METADATA_CHARS
from kb_service.metering.models import UsageEvent
from tests.conftest import Drainer
from tests.factories.controlplane import ControlPlane
from tests.kb_service.portal.conftest import csrf_of, sign_in, with_password

MANUAL = b"Resetting a password: open the account page and choose Forgot password; a link is emailed."


def _usage_rows(container: Container) -> int:
    with session_scope(container.sessions) as session:
        return session.scalar(select(func.count(UsageEvent.id))) or 0


def _signed_in_kb(client: TestClient, cp: ControlPlane, drain: Drainer) -> tuple[str, str]:
    """A signed-in admin's KB with one indexed document uploaded through the portal form."""
    admin = with_password(cp, cp.admin())
    embeddings = cp.embeddings(admin, display_name="Vectors")
    kb_id: str = cp.knowledge_base(admin, embeddings["id"], display_name="Manuals")["id"]
    sign_in(client, admin.email)
    content = f"/portal/resources/{kb_id}/content"
    uploaded = client.post(
        f"{content}/upload",
        data={
            "csrf_token": csrf_of(client.get(content).text),
            "meta_key": ["Status"],
            "meta_value": ["Draft"],
        },
        files=[("files", ("manual.txt", MANUAL, "text/plain"))],
        follow_redirects=False,
    )
    assert uploaded.status_code == 303, uploaded.text
    drain()
    items = client.get(f"/portal/resources/{kb_id}/documents.json").json()["items"]
    assert [(d["status"], d["metadata"]) for d in items] == [("indexed", {"Status": "Draft"})]
    document_id: str = items[0]["id"]
    return kb_id, document_id


def _edit(client: TestClient, kb_id: str, document_id: str, rows: list[tuple[str, str]]) -> httpx2.Response:
    content = f"/portal/resources/{kb_id}/content"
    return client.post(
        f"{content}/documents/{document_id}/metadata",
        data={
            "csrf_token": csrf_of(client.get(content).text),
            "meta_key": [k for k, _ in rows],
            "meta_value": [v for _, v in rows],
        },
        follow_redirects=False,
    )


def _row(page: str, document_id: str) -> str:
    found = re.search(rf'<tr data-document-id="{document_id}">(.*?)</tr>', page, re.S)
    assert found is not None, "the document has no row"
    return found.group(1)


def _tags(row: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r'<span class="tag">([^<]*)</span>', row)]


def _search(client: TestClient, kb_id: str, key: str, value: str) -> str:
    content = f"/portal/resources/{kb_id}/content"
    response = client.post(
        f"{content}/search",
        data={
            "csrf_token": csrf_of(client.get(content).text),
            "query": "how do I reset my password",
            "meta_key": [key],
            "meta_value": [value],
        },
    )
    assert response.status_code == 200, response.text
    return response.text


def test_an_edit_makes_no_embedding_call_shows_in_the_row_and_the_next_search(
    client: TestClient, control_plane: ControlPlane, drain: Drainer, container: Container
) -> None:
    kb_id, document_id = _signed_in_kb(client, control_plane, drain)
    page = client.get(f"/portal/resources/{kb_id}/content").text
    assert "Edit metadata" in _row(page, document_id)
    metered = _usage_rows(container)

    # The Status row changed, a row added, an empty row (as the form always has one) ignored.
    saved = _edit(client, kb_id, document_id, [("Status", "Final"), ("Team", "Docs"), ("", "")])
    assert saved.status_code == 303
    location: str = saved.headers["location"]
    assert location == f"/portal/resources/{kb_id}/content?edited={document_id}"
    drain()
    assert _usage_rows(container) == metered, "a metadata edit must not call the embedder"

    row = _row(client.get(location).text, document_id)
    assert _tags(row) == ["Status: Final", "Team: Docs"]
    assert "Metadata saved" in row
    items = client.get(f"/portal/resources/{kb_id}/documents.json").json()["items"]
    assert items[0]["metadata"] == {"Status": "Final", "Team": "Docs"}

    # The next search sees the chunks' new metadata (the metadata job has been indexed).
    hits = _search(client, kb_id, "Status", "Final")
    assert 'aria-label="Search results"' in hits and "Forgot password" in hits
    assert "No chunk matches" in _search(client, kb_id, "Status", "Draft")

    # Clearing a key's row removes it.
    _edit(client, kb_id, document_id, [("", "Final"), ("Team", "Docs")])
    drain()
    page = client.get(f"/portal/resources/{kb_id}/content").text
    assert _tags(_row(page, document_id)) == ["Team: Docs"]
    assert "Forgot password" in _search(client, kb_id, "Team", "Docs")
    assert "No chunk matches" in _search(client, kb_id, "Status", "Final")


def test_an_invalid_edit_is_refused_next_to_the_row_with_the_rows_as_sent(
    client: TestClient, control_plane: ControlPlane, drain: Drainer
) -> None:
    kb_id, document_id = _signed_in_kb(client, control_plane, drain)
    too_long = "x" * (MAX_METADATA_CHARS + 1)
    refused = _edit(client, kb_id, document_id, [("Status", "Final"), ("Notes", too_long)])
    assert refused.status_code == 422
    row = _row(refused.text, document_id)
    assert '<details class="edit-metadata" open>' in row
    assert re.search(r'role="alert">[^<]*Notes[^<]*longer than 1000 characters', html.unescape(row))
    assert 'value="Final"' in row  # the rows as sent, to correct
    assert _tags(row) == ["Status: Draft"]  # nothing was saved
    items = client.get(f"/portal/resources/{kb_id}/documents.json").json()["items"]
    assert items[0]["metadata"] == {"Status": "Draft"}


def test_the_edit_needs_the_form_token_and_a_document_of_this_kb(
    client: TestClient, control_plane: ControlPlane, drain: Drainer
) -> None:
    kb_id, document_id = _signed_in_kb(client, control_plane, drain)
    forged = client.post(
        f"/portal/resources/{kb_id}/content/documents/{document_id}/metadata",
        data={"meta_key": ["Status"], "meta_value": ["Final"]},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    missing = _edit(client, kb_id, "no-such-document", [("Status", "Final")])
    assert missing.status_code == 404
    items = client.get(f"/portal/resources/{kb_id}/documents.json").json()["items"]
    assert items[0]["metadata"] == {"Status": "Draft"}
