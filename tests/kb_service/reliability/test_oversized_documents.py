"""Documents that explode: a compressed-bomb PDF fails with "the PDF expands beyond the N MB limit"
(before: "no extractable text"), and a document making more chunks than `max_chunks_per_document`
fails with the reason before anything is embedded or metered (issue 13)."""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from pypdf import get_configuration
from sqlalchemy import func, select

from kb_service.config import Settings
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.ingestion.parsing import ParseError, parse_document
from kb_service.metering.models import UsageEvent
from tests.conftest import KB, Drainer, upload
from tests.kb_service.reliability.counting import CountingEmbedders, counting_container

LIMIT_MB = get_configuration().zlib_maximum_output_length // 1_000_000


def bomb_pdf(expanded_bytes: int) -> bytes:
    """A one-page PDF whose content stream is `expanded_bytes` of zeros, FlateDecode-compressed."""
    packer = zlib.compressobj(9)
    block = b"0" * (1 << 20)
    parts = [packer.compress(block) for _ in range(expanded_bytes // len(block))]
    stream = b"".join([*parts, packer.flush()])
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n%b\nendstream" % (len(stream), stream),
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%b\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return bomb_pdf((LIMIT_MB + 5) * 1_000_000)


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], db_url: str) -> Settings:
    return settings_factory(database_url=db_url, max_chunks_per_document=3)


@pytest.fixture
def counted(embedders: EmbedderRegistry) -> CountingEmbedders:
    return CountingEmbedders(embedders)


@pytest.fixture
def container(settings: Settings, counted: CountingEmbedders) -> Iterator[Container]:
    yield from counting_container(settings, counted)


def _usage_rows(container: Container) -> int:
    with session_scope(container.sessions) as session:
        return session.scalar(select(func.count(UsageEvent.id))) or 0


def test_a_compressed_bomb_fails_with_the_expansion_limit(bomb: bytes) -> None:
    assert len(bomb) < 200_000  # a small upload...
    with pytest.raises(ParseError) as raised:
        parse_document(bomb, "pdf")
    # ...that would expand beyond pypdf's limit: said so, not "no extractable text".
    assert raised.value.code == "too_large"
    assert f"expands beyond the {LIMIT_MB} MB limit" in str(raised.value)


def test_uploaded_bombs_and_chunk_explosions_fail_with_the_reason_unmetered(
    client: TestClient, kb: KB, drain: Drainer, container: Container, counted: CountingEmbedders, bomb: bytes
) -> None:
    exploding = "\n\n".join(
        f"Part {n}. " + " ".join(f"word{n}x{i}" for i in range(200)) for n in range(6)
    ).encode()
    accepted = {
        "bomb": upload(client, kb, "bomb.pdf", bomb, content_type="application/pdf").json()["id"],
        "many": upload(client, kb, "many.txt", exploding).json()["id"],
    }
    drain()
    errors = {}
    for name, document_id in accepted.items():
        document = client.get(kb.url(f"/documents/{document_id}"), headers=kb.headers).json()
        assert document["status"] == "failed", document
        errors[name] = document["error"]
    assert f"expands beyond the {LIMIT_MB} MB limit" in errors["bomb"]
    assert "chunks, more than the 3 a document may have" in errors["many"]
    assert "KB_MAX_CHUNKS_PER_DOCUMENT" in errors["many"]
    assert (counted.calls.count, _usage_rows(container)) == (0, 0)

    fine = upload(client, kb, "small.txt", b"A short note that makes one chunk.").json()["id"]
    drain()
    assert client.get(kb.url(f"/documents/{fine}"), headers=kb.headers).json()["status"] == "indexed"
