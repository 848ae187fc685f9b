"""Deleting app objects' chunks is a job ordered after the collection's queued jobs, like every other
change, and it is in the activity log (issue 13). Before: it applied at once, so a delete sent after
an insert that was still queued ended with the chunks present."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from kb_service.activity.models import ActivityEntry
from kb_service.container import Container
from kb_service.db import session_scope
from tests.conftest import KB, Drainer


def test_insert_then_delete_ends_without_the_chunks(
    client: TestClient, kb: KB, drain: Drainer, container: Container
) -> None:
    chunks = [
        {"text": "Printer jams on tray 2.", "human_readable_id": "T-1", "mx_object_id": "obj-1"},
        {"text": "Screen flickers.", "human_readable_id": "T-2", "mx_object_id": "obj-2"},
    ]
    pushed = client.post(
        kb.url("/collections/Tickets/chunks"), headers=kb.headers, json={"mode": "insert", "chunks": chunks}
    )
    assert pushed.status_code == 202
    # Sent while the insert is still queued (no worker has run yet).
    deleted = client.delete(
        kb.url("/collections/Tickets/chunks"), headers=kb.headers, params={"mx_object_id": "obj-1"}
    )
    assert deleted.status_code == 202, deleted.text
    job = deleted.json()
    assert (job["mode"], job["status"], job["collection"]) == ("delete", "queued", "Tickets")

    drain()
    listing = client.get(kb.url("/collections/Tickets/chunks"), headers=kb.headers).json()
    assert [c["human_readable_id"] for c in listing["items"]] == ["T-2"]
    done = client.get(kb.url(f"/jobs/{job['id']}"), headers=kb.headers).json()
    assert (done["status"], done["chunk_count"], done["input_tokens"]) == ("indexed", 1, 0)

    with session_scope(container.sessions) as session:
        entries = session.scalars(select(ActivityEntry).where(ActivityEntry.resource_id == kb.id)).all()
        logged = [(e.action, e.detail) for e in entries if e.action == "chunks.deleted"]
    assert len(logged) == 1
    assert logged[0][1]["job_id"] == job["id"]
