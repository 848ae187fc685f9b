"""The OpenAI-compatible vector-store API of the live app, driven by the official `openai` client:
searches with compound filters answer exactly what our own search answers for the translated
request, and a file goes through upload, attach, status and an attribute edit that re-embeds nothing."""

from __future__ import annotations

import io
from typing import Any

import httpx
import openai
import pytest
from openai.types.shared_params.comparison_filter import ComparisonFilter
from openai.types.shared_params.compound_filter import CompoundFilter

from tests.conftest import Drainer, create_kb
from tests.kb_service.interfaces.conftest import DOCUMENTS, Live


def _client(live: Live, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live.url}/v1", api_key=key or live.kb.key, max_retries=0)


def _rest_search(live: Live, body: dict[str, Any]) -> list[tuple[str, float]]:
    response = httpx.post(f"{live.url}{live.kb.url('/search')}", headers=live.kb.headers, json=body)
    assert response.status_code == 200, response.text
    return [(hit["document_id"], hit["score"]) for hit in response.json()["results"]]


# (OpenAI filters, the equivalent request to our own search)
EQUIVALENT: list[tuple[ComparisonFilter | CompoundFilter, dict[str, Any]]] = [
    (
        {"type": "and", "filters": [{"key": "collection", "type": "eq", "value": "Manuals"}]},
        {"collections": ["Manuals"]},
    ),
    (
        {
            "type": "and",
            "filters": [
                {"key": "collection", "type": "in", "value": ["Manuals", "Tickets"]},
                {
                    "type": "or",
                    "filters": [
                        {"key": "Priority", "type": "lte", "value": 2},
                        {"key": "Status", "type": "eq", "value": "Open"},
                    ],
                },
            ],
        },
        {
            "collections": ["Manuals", "Tickets"],
            "filter": {"or": [{"key": "Priority", "lte": 2}, {"key": "Status", "eq": "Open"}]},
        },
    ),
    (
        {
            "type": "or",
            "filters": [
                {"key": "Priority", "type": "eq", "value": 3},
                {
                    "type": "and",
                    "filters": [
                        {"key": "Product", "type": "nin", "value": ["Scanner", "Toner"]},
                        {"key": "Status", "type": "ne", "value": "Open"},
                    ],
                },
            ],
        },
        {
            "filter": {
                "or": [
                    {"key": "Priority", "gte": 3, "lte": 3},
                    {
                        "and": [
                            {"not": {"key": "Product", "in": ["Scanner", "Toner"]}},
                            {"not": {"key": "Status", "eq": "Open"}},
                        ]
                    },
                ]
            }
        },
    ),
    ({"key": "Priority", "type": "gt", "value": 2}, {"filter": {"key": "Priority", "gt": 2}}),
]


@pytest.mark.parametrize(("filters", "ours"), EQUIVALENT)
def test_search_with_filters_answers_as_our_search(
    shared_live: Live, filters: ComparisonFilter | CompoundFilter, ours: dict[str, Any]
) -> None:
    page = _client(shared_live).vector_stores.search(
        shared_live.kb.id,
        query="printer pages",
        filters=filters,
        max_num_results=10,
        ranking_options={"ranker": "none"},
    )
    expected = _rest_search(shared_live, {"query": "printer pages", "max_results": 10, **ours})
    assert expected, "the case must match something"
    assert [(hit.file_id, hit.score) for hit in page.data] == expected
    assert page.object == "vector_store.search_results.page"
    assert page.search_query == ["printer pages"]  # type: ignore[attr-defined]
    assert not page.has_more  # type: ignore[attr-defined]
    names = {v: k for k, v in shared_live.document_ids.items()}
    for hit in page.data:
        assert hit.filename == names[hit.file_id]
        assert hit.content[0].type == "text" and hit.content[0].text
        assert hit.attributes is not None and hit.attributes["collection"] in ("Manuals", "Tickets")


def test_score_threshold_and_max_results(shared_live: Live) -> None:
    client = _client(shared_live)
    everything = client.vector_stores.search(shared_live.kb.id, query="printer pages")
    assert len(everything.data) == 3
    threshold = (everything.data[0].score + everything.data[1].score) / 2
    top = client.vector_stores.search(
        shared_live.kb.id, query="printer pages", ranking_options={"score_threshold": threshold}
    )
    assert [h.file_id for h in top.data] == [everything.data[0].file_id]
    assert (
        len(client.vector_stores.search(shared_live.kb.id, query="printer pages", max_num_results=2).data)
        == 2
    )


def test_the_vector_store_is_the_knowledge_base(shared_live: Live) -> None:
    client = _client(shared_live)
    stores = client.vector_stores.list()
    assert [s.id for s in stores.data] == [shared_live.kb.id]
    store = client.vector_stores.retrieve(shared_live.kb.id)
    assert store.object == "vector_store" and store.name == "Support" and store.status == "completed"
    assert store.file_counts.completed == 3 and store.file_counts.total == 3
    assert store.usage_bytes == sum(len(content) for _, content, _, _ in DOCUMENTS)
    assert isinstance(store.created_at, int)


def test_refusals_raise_the_right_openai_exceptions(shared_live: Live) -> None:
    client = _client(shared_live)
    with pytest.raises(openai.BadRequestError) as rewrite:
        client.vector_stores.search(shared_live.kb.id, query="jam", rewrite_query=True)
    assert rewrite.value.code == "bad_request" and "rewrite_query" in rewrite.value.message
    with pytest.raises(openai.UnprocessableEntityError) as bad_filter:
        client.vector_stores.search(
            shared_live.kb.id, query="jam", filters={"key": "Priority", "type": "gt", "value": "high"}
        )
    assert bad_filter.value.code == "invalid_input"
    assert bad_filter.value.body == {
        "code": "invalid_input",
        "message": "Invalid filters: filters.value 'high' is neither a number nor an ISO 8601 date.",
        "details": {},
    }
    with pytest.raises(openai.UnprocessableEntityError):
        client.vector_stores.search(shared_live.kb.id, query="jam", max_num_results=51)
    other = create_kb(shared_live.container, "Other")
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.search(other.id, query="jam")
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.retrieve("file-nope", vector_store_id=shared_live.kb.id)
    with pytest.raises(openai.AuthenticationError) as unauthorized:
        _client(shared_live, shared_live.kb.key[:-4] + "abcd").vector_stores.list()
    assert unauthorized.value.code == "unauthorized"


def test_upload_attach_status_and_attribute_update(live: Live) -> None:
    client = _client(live)
    uploaded = client.files.create(
        file=("fax.txt", io.BytesIO(b"The fax machine beeps twice when it runs out of paper."), "text/plain"),
        purpose="assistants",
    )
    assert uploaded.object == "file" and uploaded.filename == "fax.txt" and uploaded.bytes == 54

    attached = client.vector_stores.files.create(
        vector_store_id=live.kb.id,
        file_id=uploaded.id,
        attributes={"collection": "Tickets", "Priority": 4, "Urgent": True, "Product": "Fax"},
    )
    assert attached.id == uploaded.id and attached.status == "in_progress" and attached.last_error is None
    assert attached.attributes == {
        "collection": "Tickets",
        "Priority": "4",
        "Urgent": "true",
        "Product": "Fax",
    }
    assert client.vector_stores.retrieve(live.kb.id).status == "in_progress"

    Drainer(live.container)()
    indexed = client.vector_stores.files.retrieve(uploaded.id, vector_store_id=live.kb.id)
    assert indexed.status == "completed" and indexed.vector_store_id == live.kb.id
    documents = httpx.get(
        f"{live.url}{live.kb.url('/documents')}", headers=live.kb.headers, params={"collection": "Tickets"}
    ).json()["items"]
    fax = next(d for d in documents if d["filename"] == "fax.txt")
    assert fax["metadata"] == {"Priority": "4", "Urgent": "true", "Product": "Fax"}

    # The numeric and boolean attributes filter as numbers and booleans.
    found = client.vector_stores.search(
        live.kb.id,
        query="fax out of paper",
        filters={
            "type": "and",
            "filters": [
                {"key": "Priority", "type": "gte", "value": 4},
                {"key": "Urgent", "type": "eq", "value": True},
            ],
        },
    )
    assert [(h.file_id, h.filename) for h in found.data] == [(uploaded.id, "fax.txt")]

    updated = client.vector_stores.files.update(
        uploaded.id, vector_store_id=live.kb.id, attributes={"Priority": 1, "Product": "Fax"}
    )
    assert updated.attributes == {"collection": "Tickets", "Priority": "1", "Product": "Fax"}
    Drainer(live.container)()
    fax_url = live.url + live.kb.url("/documents/" + fax["id"])
    after = httpx.get(fax_url, headers=live.kb.headers).json()
    assert after["metadata"] == {"Priority": "1", "Product": "Fax"}
    assert after["input_tokens"] == fax["input_tokens"]  # nothing was re-embedded
    hit = client.vector_stores.search(
        live.kb.id, query="fax", filters={"key": "Priority", "type": "eq", "value": 1}
    )
    assert [h.attributes for h in hit.data] == [{"collection": "Tickets", "Priority": "1", "Product": "Fax"}]

    with pytest.raises(openai.BadRequestError):
        client.vector_stores.files.update(
            uploaded.id, vector_store_id=live.kb.id, attributes={"collection": "Manuals"}
        )

    listed = client.vector_stores.files.list(vector_store_id=live.kb.id, limit=2)
    assert listed.data[0].id == uploaded.id and listed.has_more
    every = [f.id for f in client.vector_stores.files.list(vector_store_id=live.kb.id, limit=2)]  # pages on
    assert every == [uploaded.id, *reversed(live.document_ids.values())]
    completed = client.vector_stores.files.list(vector_store_id=live.kb.id, filter="completed")
    assert len(completed.data) == 4

    deleted = client.vector_stores.files.delete(uploaded.id, vector_store_id=live.kb.id)
    assert deleted.deleted and deleted.id == uploaded.id
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.retrieve(uploaded.id, vector_store_id=live.kb.id)
    assert client.vector_stores.search(live.kb.id, query="fax machine beeps").data[0].file_id != uploaded.id


def test_a_file_the_pipeline_cannot_read_is_failed_with_last_error(live: Live) -> None:
    client = _client(live)
    with pytest.raises(openai.APIStatusError) as refused:
        client.files.create(
            file=("image.png", io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"0" * 32)), purpose="assistants"
        )
    assert refused.value.status_code == 415
    with pytest.raises(openai.UnprocessableEntityError):
        client.files.create(file=("a.txt", io.BytesIO(b"text")), purpose="fine-tune")
    broken = client.files.create(
        file=("broken.pdf", io.BytesIO(b"%PDF-1.7\nnot really a pdf"), "application/pdf"),
        purpose="assistants",
    )
    client.vector_stores.files.create(vector_store_id=live.kb.id, file_id=broken.id)
    Drainer(live.container)()
    failed = client.vector_stores.files.retrieve(broken.id, vector_store_id=live.kb.id)
    assert failed.status == "failed"
    assert (
        failed.last_error is not None
        and failed.last_error.code == "invalid_file"
        and failed.last_error.message
    )
