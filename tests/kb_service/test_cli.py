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


def test_portal_password_from_stdin_signs_the_user_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from kb_service.clock import SystemClock
    from kb_service.config import Settings
    from kb_service.container import Container
    from kb_service.errors import Unauthorized
    from kb_service.queue.outbox import RecordingDispatcher
    from kb_service.services import unit_of_work

    monkeypatch.delenv("KB_DATA_DIR", raising=False)
    data = str(tmp_path / "instance")
    monkeypatch.setattr("sys.stdin", io.StringIO("first password 123\n"))
    created = _run(
        capsys,
        "user",
        "create",
        "--email",
        "ada@acme.example",
        "--company",
        "Acme",
        "--password-stdin",
        "--data-dir",
        data,
    )
    assert isinstance(created, dict)
    monkeypatch.setattr("sys.stdin", io.StringIO("second password 456\n"))
    changed = _run(capsys, "user", "set-password", "--email", "ada@acme.example", "--data-dir", data)
    assert changed == {"user_id": created["user_id"], "email": "ada@acme.example", "password_set": True}

    container = Container.build(Settings(data_dir=Path(data)), dispatcher=RecordingDispatcher())
    try:
        with unit_of_work(container, SystemClock()) as services:
            users = services.users
            assert users.sign_in("ada@acme.example", "second password 456").user_id == created["user_id"]
            with pytest.raises(Unauthorized):
                users.sign_in("ada@acme.example", "first password 123")
    finally:
        container.close()


def test_too_short_portal_password_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.delenv("KB_DATA_DIR", raising=False)
    data = str(tmp_path / "instance")
    _run(capsys, "user", "create", "--email", "ada@acme.example", "--company", "Acme", "--data-dir", data)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "set-password", "--email", "ada@acme.example", "--data-dir", data]) != 0
    assert "12 to 1000 characters" in capsys.readouterr().err


def test_data_dir_before_the_command_is_honoured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KB_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # were the option ignored, the state would land in ./kb-data
    data = str(tmp_path / "instance")
    created = _run(capsys, "--data-dir", data, "kb", "create", "--name", "Support")
    assert isinstance(created, dict)
    listed = _run(capsys, "kb", "list", "--data-dir", data)
    assert isinstance(listed, list)
    assert [kb["knowledge_base_id"] for kb in listed] == [created["knowledge_base_id"]]
    assert _run(capsys, "--data-dir", data, "kb", "list") == listed
    assert (tmp_path / "instance" / "state.sqlite3").exists()
    assert not (tmp_path / "kb-data").exists()


def test_key_revoke_of_a_kb_key_revokes_its_paired_embeddings_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KB_DATA_DIR", raising=False)
    data = str(tmp_path / "instance")
    created = _run(capsys, "kb", "create", "--name", "Support", "--data-dir", data)
    assert isinstance(created, dict)
    key = _run(capsys, "key", "create", "--resource", created["knowledge_base_id"], "--data-dir", data)
    assert isinstance(key, dict)
    paired_id = key["paired_key"]["key_id"]

    _run(capsys, "key", "revoke", key["key_id"], "--data-dir", data)

    embeddings_keys = _run(
        capsys, "key", "list", "--resource", created["embeddings_resource_id"], "--data-dir", data
    )
    assert isinstance(embeddings_keys, list)
    assert [(k["key_id"], k["paired_with_key_id"], k["revoked"]) for k in embeddings_keys] == [
        (paired_id, key["key_id"], True)
    ]


def test_provision_deprovision_and_cancel_as_a_company_admin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KB_DATA_DIR", raising=False)
    data = str(tmp_path / "instance")
    _run(capsys, "company", "create", "--name", "Acme", "--cloud-tokens", "50", "--data-dir", data)
    admin = "ada@acme.example"
    _run(capsys, "user", "create", "--email", admin, "--company", "Acme", "--admin", "--data-dir", data)
    request = tmp_path / "provision.json"
    request.write_text(
        json.dumps(
            {
                "type": "text_generation",
                "display_name": "Assistant",
                "environment": "Production",
                "region": "eu-central-1",
                "models": ["anthropic.claude-haiku-4-5"],
                "plan": "S",
                "created_for": {"name": "Ada", "email": admin},
            }
        )
    )
    provisioned = _run(
        capsys, "resource", "provision", "--as", admin, "--request", str(request), "--data-dir", data
    )
    assert isinstance(provisioned, dict)
    resource = provisioned
    assert provisioned["invitation"] is None  # created for a company user: no invitation
    scheduled = _run(capsys, "resource", "deprovision", "--as", admin, resource["id"], "--data-dir", data)
    assert isinstance(scheduled, dict) and scheduled["deprovision_on"]
    cancelled = _run(
        capsys, "resource", "cancel-deprovision", "--as", admin, resource["id"], "--data-dir", data
    )
    assert isinstance(cancelled, dict) and cancelled["deprovision_on"] is None
