"""One depth and size limit for JSON in form fields and query strings (`metadata`, `filter`), checked
before parsing; a JSON body the framework cannot parse (too deep, not UTF-8, broken multipart) is the
same documented 422. Nothing a client nests raises a RecursionError."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from kb_service.errors import InvalidInput
from kb_service.knowledge.uploads import MAX_JSON_CHARS, MAX_JSON_DEPTH, load_json
from tests.conftest import KB

DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 100_000 + '"b"' + "}" * 100_000
DEEP_NOT = '{"not":' * 1000 + '{"key": "a", "eq": "b"}' + "}" * 1000
DEEP_AND = '{"and": [' * 1000 + '{"key": "a", "eq": "b"}' + "]}" * 1000


def _refused(response: Any, field: str) -> str:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and error["details"]["field"] == field
    message: str = error["message"]
    return message


@pytest.mark.parametrize("metadata", [DEEP_ARRAY, DEEP_OBJECT])
def test_deeply_nested_upload_metadata_is_a_422(client: TestClient, kb: KB, metadata: str) -> None:
    response = client.post(
        kb.url("/documents"),
        headers=kb.headers,
        files={"file": ("a.txt", b"Some text.", "text/plain")},
        data={"metadata": metadata},
    )
    assert f"deeper than {MAX_JSON_DEPTH}" in _refused(response, "metadata")


@pytest.mark.parametrize("raw", [DEEP_NOT, DEEP_AND, DEEP_ARRAY[:2000] + DEEP_ARRAY[-2000:]])
def test_a_deeply_nested_filter_on_the_chunk_listing_is_a_422(client: TestClient, kb: KB, raw: str) -> None:
    response = client.get(kb.url("/collections/default/chunks"), headers=kb.headers, params={"filter": raw})
    _refused(response, "filter")


def test_deeply_nested_metadata_on_the_chunk_listing_is_a_422(client: TestClient, kb: KB) -> None:
    raw = '{"a":' * 1000 + '"b"' + "}" * 1000
    response = client.get(kb.url("/collections/default/chunks"), headers=kb.headers, params={"metadata": raw})
    _refused(response, "metadata")


def test_overlong_json_is_refused_before_parsing() -> None:
    # Unit-level: no URL or form part that long gets through the HTTP stack (Starlette caps a form
    # field at 1 MB), but the loader does not rely on that.
    raw = '{"key": "a", "eq": "' + "x" * MAX_JSON_CHARS + '"}'
    with pytest.raises(InvalidInput, match="longer than") as refused:
        load_json(raw, "filter")
    assert refused.value.details == {"field": "filter"}


def test_brackets_inside_strings_do_not_count_as_nesting(client: TestClient, kb: KB) -> None:
    response = client.post(
        kb.url("/documents"),
        headers=kb.headers,
        files={"file": ("a.txt", b"Some text.", "text/plain")},
        data={"metadata": '{"Title": "' + "[{" * 400 + '\\"]"}'},
    )
    assert response.status_code == 202, response.text


def test_a_filter_deeper_than_the_filter_limit_in_a_body_names_the_field(client: TestClient, kb: KB) -> None:
    # 30 levels parse as JSON; the filter parser refuses them (16 levels), naming the filter.
    deep = '{"not":' * 30 + '{"key": "a", "eq": "b"}' + "}" * 30
    body = '{"query": "q", "filter": ' + deep + "}"
    headers = {**kb.headers, "Content-Type": "application/json"}
    response = client.post(kb.url("/search"), headers=headers, content=body)
    assert response.status_code == 422 and "nested deeper" in response.json()["error"]["message"]


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_a_json_body_nested_past_the_parser_is_our_422(client: TestClient, kb: KB, depth: int) -> None:
    body = '{"query": "q", "filter": ' + '{"not":' * depth + '{"key": "a", "eq": "b"}' + "}" * depth + "}"
    headers = {**kb.headers, "Content-Type": "application/json"}
    response = client.post(kb.url("/search"), headers=headers, content=body)
    assert "nested too deeply" in _refused(response, "body")  # was a 400 {"detail": ...}


def test_a_body_that_is_not_utf8_is_our_422(client: TestClient, kb: KB) -> None:
    headers = {**kb.headers, "Content-Type": "application/json"}
    response = client.post(kb.url("/search"), headers=headers, content=b"\x80abc")
    assert "UTF-8" in _refused(response, "body")


def test_broken_multipart_is_our_422(client: TestClient, kb: KB) -> None:
    headers = {**kb.headers, "Content-Type": "multipart/form-data; boundary=xyz"}
    content = b"--xyz\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--xyz--\r\n"
    response = client.post(kb.url("/documents"), headers=headers, content=content)
    assert "could not be read" in _refused(response, "body")


def test_every_route_with_a_body_documents_the_422(client: TestClient) -> None:
    """An unreadable body is a 422, so every route that takes one says it may answer that."""
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                assert "422" in operation["responses"], (method, path)
