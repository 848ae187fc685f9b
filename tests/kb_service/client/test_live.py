"""The Python client against the live app (uvicorn on a free port) with a real worker: the data plane
with a KB key, the control plane with a personal access token, typed answers and typed errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kb_service.client import (
    AsyncKBClient,
    DocumentFailed,
    InvalidInput,
    KBClient,
    NotFound,
    Unauthorized,
)
from schemas.knowledge import DocumentOut, PushedChunk
from schemas.retrieval import SearchResponse
from tests.kb_service.client.stack import PDFS, Stack

pytestmark = [pytest.mark.worker, pytest.mark.timeout(600)]

HANDBOOK = (
    "Resetting a password: open the account page, choose Security and press Reset password. "
    "A link valid for one hour is sent to the address on file.\n\n"
    "Exporting invoices: the Billing page lists every invoice; each one can be downloaded as a PDF."
)


def test_data_plane_round_trip(stack: Stack, tmp_path: Path) -> None:
    handbook = tmp_path / "handbook.txt"
    handbook.write_text(HANDBOOK)
    with KBClient(stack.url, stack.key) as kb:
        document = kb.upload_and_wait(
            stack.kb_id, handbook, collection="Help", metadata={"Product": "Portal"}, timeout=180
        )
        assert isinstance(document, DocumentOut)
        assert (document.status, document.collection, document.metadata) == (
            "indexed",
            "Help",
            {"Product": "Portal"},
        )
        assert document.chunk_count and document.chunks_embedded == document.chunk_count

        again = kb.upload_file(stack.kb_id, handbook, collection="Help", metadata={"Product": "Portal"})
        assert (again.id, again.unchanged) == (document.id, True)

        for mode in ("vector", "keyword", "hybrid"):
            found = kb.search(
                stack.kb_id, "how do I reset my password", mode=mode, max_results=2,
                collections=["Help"], filter={"key": "Product", "eq": "Portal"},
            )  # fmt: skip
            assert isinstance(found, SearchResponse) and found.mode == mode
            assert found.results and found.results[0].document_id == document.id
            assert "password" in found.results[0].text.lower()
        nothing = kb.search(stack.kb_id, "password", filter={"key": "Product", "eq": "Other"})
        assert nothing.results == []

        listed = kb.list_documents(stack.kb_id, collection="Help")
        assert [d.id for d in listed.items] == [document.id] and listed.total == 1
        assert {c.name for c in kb.list_collections(stack.kb_id)} >= {"default", "Help"}

        edited = kb.update_document_metadata(stack.kb_id, document.id, set={"Language": "en"})
        assert edited.document.metadata == {"Product": "Portal", "Language": "en"}
        kb.wait_for_job(stack.kb_id, edited.job.id, timeout=120)

        job = kb.push_chunks(
            stack.kb_id, "Tickets",
            [PushedChunk(text="The printer shows error E42 when the tray is empty.", human_readable_id="T-1",
                         mx_object_id="T-1", metadata={"Type": "Bug"})],
        )  # fmt: skip
        assert kb.wait_for_job(stack.kb_id, job.id, timeout=120).chunk_count == 1
        chunks = kb.list_chunks(stack.kb_id, "Tickets", filter={"key": "Type", "eq": "Bug"})
        assert [c.human_readable_id for c in chunks.items] == ["T-1"]
        deletion = kb.delete_object_chunks(stack.kb_id, "Tickets", ["T-1"])
        assert kb.wait_for_job(stack.kb_id, deletion.id, timeout=120).chunk_count == 1
        assert kb.list_chunks(stack.kb_id, "Tickets").total == 0

        kb.delete_document(stack.kb_id, document.id)
        with pytest.raises(NotFound) as missing:
            kb.get_document(stack.kb_id, document.id)
        assert missing.value.status_code == 404 and missing.value.code == "not_found"


def test_errors_are_typed_with_our_body(stack: Stack) -> None:
    with KBClient(stack.url, stack.key) as kb:
        with pytest.raises(InvalidInput) as invalid:
            kb.search(stack.kb_id, "question", max_results=1000)
        assert invalid.value.code == "invalid_input" and invalid.value.field == "body.max_results"
        with pytest.raises(NotFound):
            kb.list_collections("0" * 32)  # another KB than the key's: 404, not 403
    with KBClient(stack.url, "kb_nope_wrong") as stranger, pytest.raises(Unauthorized) as refused:
        stranger.list_collections(stack.kb_id)
    assert refused.value.code == "unauthorized" and refused.value.message


def test_a_failed_document_raises_its_reason(stack: Stack) -> None:
    with KBClient(stack.url, stack.key) as kb, pytest.raises(DocumentFailed) as failed:
        kb.upload_and_wait(stack.kb_id, PDFS / "sf-imagemagick-CCITTFaxDecode.pdf", timeout=180)
    assert "text" in failed.value.message.lower()


def test_control_plane_shows_the_kb_made_by_kb_create(stack: Stack) -> None:
    with KBClient(stack.url, stack.admin_token) as cp:
        me = cp.me()
        assert (me.email, me.company_id, me.is_admin) == ("ada@local.example", stack.company_id, True)
        resources = {r.id: r for r in cp.list_resources()}
        assert {stack.kb_id, stack.embeddings_id} <= set(resources)
        assert cp.get_company().name == "Local"
        assert stack.kb_id in cp.resource_settings(stack.embeddings_id).linked_knowledge_base_ids
        key = cp.create_key(stack.kb_id, description="from the client")
        assert key.secret and key.key_id in {k.key_id for k in cp.list_keys(stack.kb_id)}
        assert cp.revoke_key(stack.kb_id, key.key_id).revoked_at is not None
        assert cp.consumption(stack.embeddings_id).resource_id == stack.embeddings_id
        assert cp.activity(stack.kb_id, limit=5).limit == 5
        assert cp.list_members(stack.kb_id) == []
        token = cp.create_token(description="laptop")
        assert cp.revoke_token(token.token_id).revoked_at is not None


def test_the_async_client_against_the_live_app(stack: Stack, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("The office in Lisbon opens at nine and closes at six on weekdays.")

    async def run() -> tuple[DocumentOut, SearchResponse]:
        async with AsyncKBClient(stack.url, stack.key) as kb:
            document = await kb.upload_and_wait(stack.kb_id, notes, collection="Offices", timeout=180)
            found = await kb.search(stack.kb_id, "when does the Lisbon office open", collections=["Offices"])
            return document, found

    document, found = asyncio.run(run())
    assert document.status == "indexed"
    assert found.results[0].document_id == document.id
