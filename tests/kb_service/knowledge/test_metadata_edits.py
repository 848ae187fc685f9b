"""Metadata edits without re-embedding: documents and app objects' chunks, in both stores, ordered
after the collection's queued jobs, visible to the next search and listing, never metered."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from kb_service.activity.models import ActivityEntry
from kb_service.db import session_scope
from kb_service.vectorstores.base import ChunkWrite, Filter
from tests.conftest import upload

from .conftest import Stack

MANUAL = (
    b"Resetting a password: open the account page and choose 'Forgot password'.\n\n"
    b"The invoice archive keeps every invoice for ten years and exports them as PDF."
)
TICKETS = [
    {"text": "The login page shows an error after the update.", "human_readable_id": "T-1",
     "mx_object_id": "obj-1", "mx_entity": "Support.Ticket", "metadata": {"Status": "Open", "Team": "Web"}},
    {"text": "Please add a dark mode to the dashboard.", "human_readable_id": "T-2",
     "mx_object_id": "obj-2", "mx_entity": "Support.Ticket", "metadata": {"Status": "Open", "Team": "UI"}},
    {"text": "Exports to CSV time out for large reports.", "human_readable_id": "T-3",
     "mx_object_id": "obj-3", "mx_entity": "Support.Ticket", "metadata": {"Status": "Open", "Team": "Data"}},
]  # fmt: skip


def _json(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _search(stack: Stack, query: str, **body: Any) -> list[dict[str, Any]]:
    response = stack.client.post(
        stack.kb.url("/search"), headers=stack.kb.headers, json={"query": query, "max_results": 10, **body}
    )
    results: list[dict[str, Any]] = _json(response)["results"]
    return results


def _listing(stack: Stack, collection: str, **params: Any) -> list[dict[str, Any]]:
    response = stack.client.get(
        stack.kb.url(f"/collections/{collection}/chunks"), headers=stack.kb.headers, params=params
    )
    items: list[dict[str, Any]] = _json(response)["items"]
    return items


def _push(stack: Stack, chunks: list[dict[str, Any]], collection: str = "Tickets") -> dict[str, Any]:
    response = stack.client.post(
        stack.kb.url(f"/collections/{collection}/chunks"),
        headers=stack.kb.headers,
        json={"mode": "insert", "chunks": chunks},
    )
    job: dict[str, Any] = _json(response, 202)
    return job


def _patch_objects(stack: Stack, objects: list[str], body: dict[str, Any], **params: Any) -> Any:
    return stack.client.patch(
        stack.kb.url("/collections/Tickets/chunks"),
        headers=stack.kb.headers,
        params={"mx_object_id": objects, **params},
        json=body,
    )


def _job(stack: Stack, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = _json(stack.client.get(stack.kb.url(f"/jobs/{job_id}"), headers=stack.kb.headers))
    return job


def _actions(stack: Stack) -> list[str]:
    with session_scope(stack.container.sessions) as session:
        query = select(ActivityEntry.action).where(ActivityEntry.resource_id == stack.kb.id)
        return list(session.scalars(query))


def test_document_edit_makes_no_embedding_call_and_the_next_search_sees_it(stack: Stack) -> None:
    accepted = _json(
        upload(stack.client, stack.kb, "manual.txt", MANUAL, metadata={"Status": "Draft", "Team": "Docs"}),
        202,
    )
    stack.drain()
    metered = stack.usage_rows()

    response = stack.client.patch(
        stack.kb.url(f"/documents/{accepted['id']}"),
        headers=stack.kb.headers,
        json={"set": {"Status": "Final", "Reviewed": "2025-03-01"}, "remove": ["Team"]},
    )
    edited = _json(response, 202)
    assert edited["document"]["metadata"] == {"Status": "Final", "Reviewed": "2025-03-01"}
    assert edited["job"]["mode"] == "metadata"
    assert edited["job"]["status"] == "queued"
    stack.drain()

    assert stack.usage_rows() == metered, "a metadata edit must not call the embedder"
    job = _job(stack, edited["job"]["id"])
    assert job["status"] == "indexed", job["error"]
    assert job["input_tokens"] == 0
    document = _json(stack.client.get(stack.kb.url(f"/documents/{accepted['id']}"), headers=stack.kb.headers))
    assert job["chunk_count"] == document["chunk_count"]
    hits = _search(stack, "how do I reset my password", metadata={"Status": "Final"})
    assert hits
    assert {h["document_id"] for h in hits} == {accepted["id"]}
    assert all(h["metadata"] == {"Status": "Final", "Reviewed": "2025-03-01"} for h in hits)
    assert _search(stack, "password", metadata={"Status": "Draft"}) == []
    ranged = _search(stack, "password", filter={"key": "Reviewed", "gte": "2025-01-01"})
    assert {h["document_id"] for h in ranged} == {accepted["id"]}
    listed = _listing(stack, "default", metadata='{"Status": "Final"}')
    assert len(listed) == document["chunk_count"]
    assert "document.metadata_updated" in _actions(stack)


def test_replacing_a_documents_metadata(stack: Stack) -> None:
    accepted = _json(upload(stack.client, stack.kb, "manual.txt", MANUAL, metadata={"A": "1", "B": "2"}), 202)
    stack.drain()
    response = stack.client.patch(
        stack.kb.url(f"/documents/{accepted['id']}"), headers=stack.kb.headers, json={"metadata": {"C": "3"}}
    )
    assert _json(response, 202)["document"]["metadata"] == {"C": "3"}
    stack.drain()
    assert {tuple(sorted(c["metadata"].items())) for c in _listing(stack, "default")} == {(("C", "3"),)}


def test_object_chunks_edit_in_place_without_embedding(stack: Stack) -> None:
    _push(stack, TICKETS)
    stack.drain()
    metered = stack.usage_rows()
    before = {c["mx_object_id"]: c["chunk_id"] for c in _listing(stack, "Tickets")}

    job = _json(
        _patch_objects(stack, ["obj-1", "obj-2"], {"set": {"Status": "Solved"}, "remove": ["Team"]},
                       mx_entity="Support.Ticket"),
        202,
    )  # fmt: skip
    assert job["mode"] == "metadata"
    stack.drain()

    assert stack.usage_rows() == metered
    done = _job(stack, job["id"])
    assert done["status"] == "indexed", done["error"]
    assert done["chunk_count"] == 2
    chunks = {c["mx_object_id"]: c for c in _listing(stack, "Tickets")}
    assert {k: c["chunk_id"] for k, c in chunks.items()} == before, "chunks are edited, not rewritten"
    assert chunks["obj-1"]["metadata"] == {"Status": "Solved"}
    assert chunks["obj-2"]["metadata"] == {"Status": "Solved"}
    assert chunks["obj-3"]["metadata"] == {"Status": "Open", "Team": "Data"}
    solved = _search(stack, "login error", filter={"key": "Status", "eq": "Solved"})
    assert {h["mx_object_id"] for h in solved} == {"obj-1", "obj-2"}
    assert "chunks.metadata_updated" in _actions(stack)


def test_edit_waits_for_a_queued_insert_of_the_same_collection(stack: Stack) -> None:
    insert = _push(stack, TICKETS)
    edit = _json(_patch_objects(stack, ["obj-3"], {"set": {"Status": "Solved"}}), 202)

    # The edit's job cannot run before the insert accepted earlier: it is not claimed.
    stack.drain.service.process_chunk_job(edit["id"])
    assert _job(stack, edit["id"])["status"] == "queued"
    assert _listing(stack, "Tickets") == []

    stack.drain()
    assert _job(stack, insert["id"])["status"] == "indexed"
    done = _job(stack, edit["id"])
    assert done["status"] == "indexed", done["error"]
    assert done["chunk_count"] == 1
    chunks = {c["mx_object_id"]: c["metadata"] for c in _listing(stack, "Tickets")}
    assert chunks["obj-3"] == {"Status": "Solved", "Team": "Data"}
    assert chunks["obj-1"] == {"Status": "Open", "Team": "Web"}


def test_document_edited_while_it_is_ingested_ends_with_the_new_metadata(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    accepted = _json(upload(stack.client, stack.kb, "manual.txt", MANUAL, metadata={"Status": "Draft"}), 202)
    store = stack.container.store
    write = store.write

    def write_then_edit(kb_id: str, items: list[ChunkWrite], *, delete_where: Filter | None = None) -> None:
        # The edit lands after the worker wrote the chunks and before it finishes the document.
        write(kb_id, items, delete_where=delete_where)
        response = stack.client.patch(
            stack.kb.url(f"/documents/{accepted['id']}"),
            headers=stack.kb.headers,
            json={"set": {"Status": "Final"}},
        )
        assert response.status_code == 202, response.text

    monkeypatch.setattr(store, "write", write_then_edit)
    stack.drain.service.process_document(accepted["id"])
    monkeypatch.setattr(store, "write", write)

    # Before the edit's own job ran, the worker's finish already applied it.
    assert {c["metadata"]["Status"] for c in _listing(stack, "default")} == {"Final"}
    stack.drain()
    assert {c["metadata"]["Status"] for c in _listing(stack, "default")} == {"Final"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "metadata"),
        ({"set": {"A": "1"}, "remove": ["A"]}, "remove"),
        ({"remove": [" "]}, "remove"),
        ({"set": {"A": "x" * 1001}}, "set.A"),
        ({"metadata": {str(i): "v" for i in range(51)}}, "metadata"),
    ],
)
def test_invalid_edits_are_422_naming_the_field(stack: Stack, body: dict[str, Any], field: str) -> None:
    accepted = _json(upload(stack.client, stack.kb, "manual.txt", MANUAL), 202)
    response = stack.client.patch(
        stack.kb.url(f"/documents/{accepted['id']}"), headers=stack.kb.headers, json=body
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == field


def test_unknown_document_or_collection_is_404(stack: Stack) -> None:
    body = {"set": {"A": "1"}}
    missing = stack.client.patch(stack.kb.url("/documents/nope"), headers=stack.kb.headers, json=body)
    assert missing.status_code == 404
    assert _patch_objects(stack, ["obj-1"], body).status_code == 404
