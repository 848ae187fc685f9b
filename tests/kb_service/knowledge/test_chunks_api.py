"""Chunks pushed by apps: insert, repopulate, replace, delete by object, paged retrieve."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import KB, Drainer


def _chunk(
    text: str, hrid: str, obj: str | None = None, entity: str | None = None, **metadata: str
) -> dict[str, Any]:
    chunk: dict[str, Any] = {"text": text, "human_readable_id": hrid, "metadata": metadata}
    if obj is not None:
        chunk["mx_object_id"] = obj
    if entity is not None:
        chunk["mx_entity"] = entity
    return chunk


def _push(
    client: TestClient, kb: KB, collection: str, mode: str, chunks: list[dict[str, Any]]
) -> dict[str, Any]:
    response = client.post(
        kb.url(f"/collections/{collection}/chunks"), headers=kb.headers, json={"mode": mode, "chunks": chunks}
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def _listing(client: TestClient, kb: KB, collection: str, **params: Any) -> dict[str, Any]:
    response = client.get(kb.url(f"/collections/{collection}/chunks"), headers=kb.headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


TICKETS = [
    _chunk(
        "The login page shows an error after the update.",
        "T-1",
        "obj-1",
        "Support.Ticket",
        Status="Open",
        Type="Bug",
    ),
    _chunk(
        "Please add a dark mode to the dashboard.",
        "T-2",
        "obj-2",
        "Support.Ticket",
        Status="Solved",
        Type="Feature",
    ),
    _chunk(
        "Exports to CSV time out for large reports.",
        "T-3",
        "obj-3",
        "Support.Ticket",
        Status="Solved",
        Type="Bug",
    ),
]


def test_insert_job_embeds_and_indexes_chunks(client: TestClient, kb: KB, drain: Drainer) -> None:
    job = _push(client, kb, "Tickets", "insert", TICKETS)
    assert job["status"] == "queued"
    assert job["chunk_count"] == 3

    drain()

    done = client.get(kb.url(f"/jobs/{job['id']}"), headers=kb.headers).json()
    assert done["status"] == "indexed", done["error"]
    assert done["input_tokens"] > 0
    listing = _listing(client, kb, "Tickets")
    assert listing["total"] == 3
    assert [c["human_readable_id"] for c in listing["items"]] == ["T-1", "T-2", "T-3"]
    assert listing["items"][0]["mx_object_id"] == "obj-1"
    assert listing["items"][0]["mx_entity"] == "Support.Ticket"


def test_retrieve_pages_and_filters_by_metadata_and_object(
    client: TestClient, kb: KB, drain: Drainer
) -> None:
    _push(client, kb, "Tickets", "insert", TICKETS)
    drain()

    first = _listing(client, kb, "Tickets", offset=0, limit=2)
    second = _listing(client, kb, "Tickets", offset=2, limit=2)
    assert first["total"] == second["total"] == 3
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    assert {c["chunk_id"] for c in first["items"]}.isdisjoint({c["chunk_id"] for c in second["items"]})

    solved_bugs = _listing(client, kb, "Tickets", metadata='{"Status": "Solved", "Type": "Bug"}')
    assert [c["human_readable_id"] for c in solved_bugs["items"]] == ["T-3"]
    by_object = _listing(client, kb, "Tickets", mx_object_id=["obj-1", "obj-2"])
    assert [c["human_readable_id"] for c in by_object["items"]] == ["T-1", "T-2"]
    filtered = _listing(client, kb, "Tickets", filter='{"key": "Type", "ne": "Bug"}')
    assert [c["human_readable_id"] for c in filtered["items"]] == ["T-2"]


def test_repopulate_empties_the_collection_first(client: TestClient, kb: KB, drain: Drainer) -> None:
    _push(client, kb, "Tickets", "insert", TICKETS)
    _push(client, kb, "Other", "insert", [_chunk("Unrelated content.", "O-1")])
    drain()

    _push(client, kb, "Tickets", "repopulate", [_chunk("Only this one remains.", "T-9", "obj-9")])
    drain()

    assert [c["human_readable_id"] for c in _listing(client, kb, "Tickets")["items"]] == ["T-9"]
    assert _listing(client, kb, "Other")["total"] == 1


def test_replace_swaps_only_the_chunks_of_the_same_objects(
    client: TestClient, kb: KB, drain: Drainer
) -> None:
    _push(client, kb, "Tickets", "insert", TICKETS)
    drain()

    _push(
        client,
        kb,
        "Tickets",
        "replace",
        [
            _chunk("Login error fixed in 2.1; part one.", "T-1a", "obj-1", "Support.Ticket", Status="Solved"),
            _chunk("Login error fixed in 2.1; part two.", "T-1b", "obj-1", "Support.Ticket", Status="Solved"),
        ],
    )
    drain()

    items = _listing(client, kb, "Tickets")["items"]
    assert sorted(c["human_readable_id"] for c in items) == ["T-1a", "T-1b", "T-2", "T-3"]


def test_delete_by_object_ids_and_entity(client: TestClient, kb: KB, drain: Drainer) -> None:
    _push(
        client,
        kb,
        "Tickets",
        "insert",
        [*TICKETS, _chunk("Other entity, same id.", "X-1", "obj-1", "Other.Entity")],
    )
    drain()

    response = client.delete(
        kb.url("/collections/Tickets/chunks"),
        headers=kb.headers,
        params={"mx_object_id": ["obj-1", "obj-2"], "mx_entity": "Support.Ticket"},
    )
    assert response.status_code == 202
    job = response.json()
    assert (job["mode"], job["status"]) == ("delete", "queued")
    drain()
    done = client.get(kb.url(f"/jobs/{job['id']}"), headers=kb.headers).json()
    assert (done["status"], done["chunk_count"]) == ("indexed", 2)
    assert sorted(c["human_readable_id"] for c in _listing(client, kb, "Tickets")["items"]) == ["T-3", "X-1"]


def test_jobs_of_one_collection_apply_in_order(client: TestClient, kb: KB, drain: Drainer) -> None:
    _push(client, kb, "Tickets", "insert", TICKETS)
    _push(client, kb, "Tickets", "repopulate", [_chunk("After repopulate.", "R-1")])
    _push(client, kb, "Tickets", "insert", [_chunk("Inserted last.", "L-1")])
    drain()

    assert [c["human_readable_id"] for c in _listing(client, kb, "Tickets")["items"]] == ["R-1", "L-1"]


def test_redelivered_job_does_not_duplicate_chunks(client: TestClient, kb: KB, drain: Drainer) -> None:
    job = _push(client, kb, "Tickets", "insert", TICKETS)
    drain()
    drain.service.process_chunk_job(job["id"])  # a redelivery of the same message

    assert _listing(client, kb, "Tickets")["total"] == 3


def test_chunk_over_2048_characters_is_422_naming_it(client: TestClient, kb: KB) -> None:
    chunks = [_chunk("fine", "ok-1"), _chunk("x" * 2049, "too-long")]
    response = client.post(
        kb.url("/collections/C/chunks"), headers=kb.headers, json={"mode": "insert", "chunks": chunks}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert "chunks[1]" in error["message"] and "too-long" in error["message"] and "2048" in error["message"]
    assert client.get(kb.url("/collections"), headers=kb.headers).json()[0]["name"] == "default"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"mode": "replace", "chunks": [_chunk("no object", "n-1")]}, "mx_object_id"),
        ({"mode": "insert", "chunks": []}, "empty"),
        ({"mode": "upsert", "chunks": [_chunk("a", "b")]}, "mode"),
        ({"mode": "insert", "chunks": [{"text": "a"}]}, "human_readable_id"),
        ({"mode": "insert", "chunks": [_chunk("   ", "blank")]}, "no text"),
        (
            {"mode": "insert", "chunks": [{"text": "a", "human_readable_id": "b", "metadata": {"k": 1}}]},
            "metadata",
        ),
    ],
)
def test_malformed_chunk_requests_are_422(
    client: TestClient, kb: KB, body: dict[str, Any], needle: str
) -> None:
    response = client.post(kb.url("/collections/C/chunks"), headers=kb.headers, json=body)
    assert response.status_code == 422, response.text
    assert needle in response.json()["error"]["message"]


def test_unknown_collection_or_job_is_404(client: TestClient, kb: KB) -> None:
    assert client.get(kb.url("/collections/nope/chunks"), headers=kb.headers).status_code == 404
    assert client.get(kb.url("/jobs/nope"), headers=kb.headers).status_code == 404
    response = client.delete(
        kb.url("/collections/nope/chunks"), headers=kb.headers, params={"mx_object_id": "a"}
    )
    assert response.status_code == 404
