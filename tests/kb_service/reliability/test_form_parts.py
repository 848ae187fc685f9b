"""An upload sends each form field once: a second `file` or `collection` part is a 422 naming it,
not silently the one that wins."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import KB


def test_two_file_parts_are_a_422_and_nothing_is_stored(client: TestClient, kb: KB) -> None:
    response = client.post(
        kb.url("/documents"),
        headers=kb.headers,
        files=[
            ("file", ("a.txt", b"First file.", "text/plain")),
            ("file", ("b.txt", b"Second.", "text/plain")),
        ],
    )
    assert response.status_code == 422, response.text  # was a 202 keeping b.txt
    assert response.json()["error"]["details"]["field"] == "file"
    assert client.get(kb.url("/documents"), headers=kb.headers).json()["total"] == 0


def test_two_collection_parts_are_a_422(client: TestClient, kb: KB) -> None:
    response = client.post(
        kb.url("/documents"),
        headers=kb.headers,
        files={"file": ("a.txt", b"First file.", "text/plain")},
        data={"collection": ["A", "B"]},
    )
    assert response.status_code == 422, response.text  # was a 202 into collection B
    assert response.json()["error"]["details"]["field"] == "collection"


def test_authentication_comes_before_the_form_check(client: TestClient, kb: KB) -> None:
    response = client.post(
        kb.url("/documents"),
        files=[("file", ("a.txt", b"x", "text/plain")), ("file", ("b.txt", b"y", "text/plain"))],
    )
    assert response.status_code == 401


def test_one_of_each_part_is_accepted(client: TestClient, kb: KB) -> None:
    response = client.post(
        kb.url("/documents"),
        headers=kb.headers,
        files={"file": ("a.txt", b"First file.", "text/plain")},
        data={"collection": "A", "metadata": '{"Product": "Printer"}'},
    )
    assert response.status_code == 202, response.text
