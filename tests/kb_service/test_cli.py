"""The `kb-service` console script's resource and key commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb_service.cli import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> object:
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def test_kb_and_key_creation_print_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KB_DATA_DIR", raising=False)
    data = str(tmp_path / "instance-a")
    created = _run(capsys, "kb", "create", "--name", "Support", "--data-dir", data)
    assert isinstance(created, dict)
    assert created["model_id"] == "all-minilm-l6-v2"
    assert created["dimension"] == 384
    key = _run(
        capsys,
        "key",
        "create",
        "--resource",
        created["knowledge_base_id"],
        "--description",
        "app",
        "--data-dir",
        data,
    )
    assert isinstance(key, dict)
    assert key["secret"].startswith(f"kb_{key['key_id']}_")
    assert key["paired_key"]["resource_id"] == created["embeddings_resource_id"]

    listed = _run(capsys, "key", "list", "--resource", created["knowledge_base_id"], "--data-dir", data)
    assert isinstance(listed, list)
    assert [k["key_id"] for k in listed] == [key["key_id"]]
    assert "secret" not in listed[0]
    revoked = _run(capsys, "key", "revoke", key["key_id"], "--data-dir", data)
    assert isinstance(revoked, dict) and revoked["revoked_at"]

    # A second instance in another folder does not see the first one's KBs.
    other = _run(capsys, "kb", "list", "--data-dir", str(tmp_path / "instance-b"))
    assert other == []
    assert (tmp_path / "instance-a" / "state.sqlite3").exists()


def test_kb_create_with_a_cohere_model_follows_its_dimension(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    created = _run(
        capsys,
        "kb",
        "create",
        "--name",
        "Docs",
        "--embedding-model",
        "embed-multilingual-v3.0",
        "--data-dir",
        str(tmp_path),
    )
    assert isinstance(created, dict) and created["dimension"] == 1024


def test_unknown_model_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["kb", "create", "--name", "X", "--embedding-model", "nope", "--data-dir", str(tmp_path)]) == 2
    )
    error = json.loads(capsys.readouterr().err)
    assert "Unknown embedding model 'nope'" in error["error"]["message"]
