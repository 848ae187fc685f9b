"""The data folder is private — files 0600, directories 0700 — and deleted content (uploaded files,
pushed chunk text) does not linger readable in the state database or its write-ahead log after a
checkpoint (issue 13).

Choice: `PRAGMA secure_delete=ON` on every SQLite connection zeroes deleted rows in the database
pages, and every sweep runs `PRAGMA wal_checkpoint(TRUNCATE)`, so the WAL is emptied within one
sweep interval."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kb_service.api import create_app
from kb_service.config import Settings
from kb_service.container import Container
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.migrations import upgrade
from kb_service.queue.broker import make_celery
from kb_service.queue.outbox import RecordingDispatcher
from tests.conftest import Drainer, create_kb, upload

MARKER = b"QUOKKA-7f3e-private-paragraph"
PUSHED = b"WOMBAT-91c2-pushed-chunk-text"


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    # Everything in the data folder: the SQLite state database and the SQLite broker included.
    return settings_factory()


@pytest.fixture
def container(settings: Settings, embedders: EmbedderRegistry) -> Iterator[Container]:
    previous = os.umask(0o022)  # as a shell would start the service
    try:
        built = Container.build(settings, dispatcher=RecordingDispatcher(), embedders=embedders)
        upgrade(built.engine)
        yield built
        built.close()
    finally:
        os.umask(previous)


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def test_files_are_0600_and_folders_0700(settings: Settings, container: Container) -> None:
    kb = create_kb(container)
    with TestClient(create_app(container=container)) as client:
        assert upload(client, kb, "notes.txt", b"Private notes.").status_code == 202
        Drainer(container)()
        client.get("/portal/sign-in")  # the portal's signing key is created on first use
    with make_celery(settings).connection_for_write() as broker:
        probe = broker.SimpleQueue("permissions-probe")  # the SQLite broker's database is made here
        probe.put({"probe": True})
        probe.close()
    (settings.resolved_data_dir / "models").mkdir()  # as the ONNX cache is made on first use

    root = settings.resolved_data_dir
    modes = _modes(root)
    files = {name for name in modes if (root / name).is_file()}
    assert {"state.sqlite3", "state.sqlite3-wal", "broker.sqlite3"} <= files
    assert any(name.startswith("vectors/") for name in files)
    assert {name: mode for name, mode in modes.items() if name in files and mode != 0o600} == {}
    assert {name: mode for name, mode in modes.items() if name not in files and mode != 0o700} == {}


def test_deleted_content_is_gone_from_the_database_and_wal_after_a_checkpoint(
    settings: Settings, container: Container
) -> None:
    kb = create_kb(container)
    drain = Drainer(container)
    files = [settings.resolved_data_dir / name for name in ("state.sqlite3", "state.sqlite3-wal")]
    with TestClient(create_app(container=container)) as client:
        accepted = upload(client, kb, "secret.txt", MARKER + b" is in this file.").json()
        assert any(MARKER in f.read_bytes() for f in files if f.exists())  # the queued upload
        pushed = {
            "mode": "insert",
            "chunks": [{"text": f"{PUSHED.decode()} chunk.", "human_readable_id": "p"}],
        }
        client.post(kb.url("/collections/default/chunks"), headers=kb.headers, json=pushed)
        assert any(PUSHED in f.read_bytes() for f in files if f.exists())  # the queued job's payload
        drain()  # indexed: the uploaded bytes are deleted, the job's payload dropped
        assert client.get(kb.url(f"/documents/{accepted['id']}"), headers=kb.headers).json()["status"] == (
            "indexed"
        )
    drain.service.sweep()  # every sweep checkpoints
    assert [f.name for f in files if f.exists() and MARKER in f.read_bytes()] == []
    assert [f.name for f in files if f.exists() and PUSHED in f.read_bytes()] == []


def test_deleted_chunk_text_is_gone_from_the_vector_index_files(
    settings: Settings, container: Container
) -> None:
    """The embedded store's own SQLite files: secure_delete zeroes the rows, and a delete's
    checkpoint truncates the WAL that still held their page images. (The keyword index keeps a
    deleted chunk's stemmed terms, not its text, until FTS5 merges its segments.)"""
    kb = create_kb(container)
    drain = Drainer(container)
    chunks = kb.url("/collections/default/chunks")
    with TestClient(create_app(container=container)) as client:
        pushed = {
            "mode": "insert",
            "chunks": [{"text": f"{PUSHED.decode()} chunk.", "human_readable_id": "p", "mx_object_id": "o1"}],
        }
        assert client.post(chunks, headers=kb.headers, json=pushed).status_code == 202
        drain()
        index_files = [p for p in (settings.resolved_data_dir / "vectors").rglob("*") if p.is_file()]
        assert any(PUSHED in f.read_bytes() for f in index_files)  # indexed: the text is there
        deleted = client.delete(chunks, headers=kb.headers, params={"mx_object_id": "o1"})
        assert deleted.status_code == 202, deleted.text
        drain()
    index_files = [p for p in (settings.resolved_data_dir / "vectors").rglob("*") if p.is_file()]
    assert [f.name for f in index_files if PUSHED in f.read_bytes()] == []
