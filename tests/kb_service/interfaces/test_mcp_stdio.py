"""The MCP server over stdio (`python -m kb_service.mcp`, what `kb-service mcp` runs), started as a
subprocess by the official SDK's client on a data folder that holds an indexed knowledge base."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from mcp import Client, StdioServerParameters

from kb_service.api import create_app
from kb_service.config import Settings
from kb_service.container import Container
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.migrations import upgrade
from kb_service.queue.outbox import RecordingDispatcher
from tests.conftest import KB, REPO, Drainer, create_kb, upload
from tests.kb_service.interfaces.conftest import DOCUMENTS

# What the server process needs from the test environment (the model cache, offline mode).
_PASSED_ON = ("KB_LOCAL_EMBEDDER__CACHE_DIR", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HOME")


@dataclass(frozen=True)
class DataFolder:
    path: Path
    kb: KB


@pytest.fixture
def data_folder(tmp_path: Path, embedders: EmbedderRegistry) -> DataFolder:
    """A data folder as `kb-service serve` leaves it: state database and vectors under one path."""
    settings = Settings(data_dir=tmp_path / "kb-data", log_json=False)
    container = Container.build(settings, dispatcher=RecordingDispatcher(), embedders=embedders)
    upgrade(container.engine)
    kb = create_kb(container)
    with TestClient(create_app(container=container)) as client:
        for name, content, collection, metadata in DOCUMENTS:
            assert (
                upload(client, kb, name, content, collection=collection, metadata=metadata).status_code == 202
            )
    Drainer(container)()
    container.close()
    return DataFolder(tmp_path / "kb-data", kb)


def _server(folder: DataFolder, key: str) -> StdioServerParameters:
    env = {name: os.environ[name] for name in _PASSED_ON if name in os.environ}
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "kb_service.mcp", "--kb", folder.kb.id, "--key", key, "--data-dir", str(folder.path)],
        env={**env, "KB_LOG_JSON": "false"},
        cwd=str(REPO),
    )


def test_a_stdio_session_searches_with_a_filter(data_folder: DataFolder) -> None:
    seen: dict[str, Any] = {}

    async def main() -> None:
        async with Client(_server(data_folder, data_folder.kb.key)) as client:
            seen["tools"] = [tool.name for tool in (await client.list_tools()).tools]
            seen["search"] = await client.call_tool(
                "search",
                {"query": "paper jam", "collections": ["Manuals"], "filter": {"key": "Priority", "lt": 3}},
            )
            seen["bad"] = await client.call_tool("search", {"query": "jam", "filter": {"or": []}})

    anyio.run(main)
    assert seen["tools"] == ["search", "list_collections", "list_documents", "get_document", "get_chunks"]
    search = seen["search"]
    assert search.is_error is False, search.content
    hits = search.structured_content["results"]
    assert [(h["metadata"]["Product"], h["collection"]) for h in hits] == [("Printer", "Manuals")]
    assert hits[0]["sourceUrl"] == "https://example.test/p"
    bad = seen["bad"]
    assert bad.is_error and bad.structured_content["error"]["code"] == "invalid_input"


def test_a_wrong_key_stops_the_server_before_it_serves(data_folder: DataFolder) -> None:
    params = _server(data_folder, data_folder.kb.key[:-4] + "abcd")
    finished = subprocess.run(
        [params.command, *params.args],
        env={**os.environ, **(params.env or {})},
        cwd=params.cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 2
    assert "unauthorized: Invalid API key." in finished.stderr
    assert finished.stdout == ""  # nothing on the protocol channel
