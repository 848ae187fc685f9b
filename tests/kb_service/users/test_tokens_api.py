"""Personal access tokens: shown once, hashed at rest, revocable; the CLI bootstraps a user."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from kb_service.api import create_app
from kb_service.cli import main
from kb_service.config import Settings
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.queue.outbox import RecordingDispatcher
from kb_service.users.models import PersonalAccessToken
from tests.factories.controlplane import ControlPlane


def test_a_token_authenticates_its_user(control_plane: ControlPlane) -> None:
    admin = control_plane.admin()
    me = control_plane.client.get("/v1/me", headers=admin.headers).json()
    assert (me["email"], me["company_name"], me["is_admin"]) == ("admin@acme.example", "Acme", True)


@pytest.mark.parametrize("header", [None, "Bearer nope", "Bearer pat_unknown_secret", "Basic abc"])
def test_missing_or_wrong_tokens_are_401(control_plane: ControlPlane, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = control_plane.client.get("/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_an_api_key_is_not_a_personal_access_token(control_plane: ControlPlane) -> None:
    from tests.conftest import create_kb

    kb = create_kb(control_plane.container)
    assert control_plane.client.get("/v1/me", headers=kb.headers).status_code == 401


def test_tokens_are_hashed_shown_once_listed_and_revocable(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    created = cp.client.post("/v1/me/tokens", headers=admin.headers, json={"description": "laptop"})
    assert created.status_code == 201
    secret = created.json()["secret"]
    token_id = created.json()["token_id"]
    with session_scope(cp.container.sessions) as session:
        stored = session.scalars(select(PersonalAccessToken).where(PersonalAccessToken.id == token_id)).one()
        assert secret.split("_", 2)[2] not in stored.secret_hash
    listed = cp.client.get("/v1/me/tokens", headers=admin.headers).json()
    assert [t["description"] for t in listed] == ["tests", "laptop"]
    assert all("secret" not in t for t in listed)
    new_headers = {"Authorization": f"Bearer {secret}"}
    assert cp.client.get("/v1/me", headers=new_headers).status_code == 200
    revoked = cp.client.delete(f"/v1/me/tokens/{token_id}", headers=admin.headers)
    assert revoked.json()["revoked_at"] is not None
    assert cp.client.get("/v1/me", headers=new_headers).status_code == 401


def test_another_users_token_cannot_be_revoked(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    member = cp.user(admin.company_id, "m@acme.example")
    token_id = member.token.split("_")[1]
    assert cp.client.delete(f"/v1/me/tokens/{token_id}", headers=admin.headers).status_code == 404
    assert cp.client.get("/v1/me", headers=member.headers).status_code == 200


def test_cli_user_create_bootstraps_a_company_admin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KB_DATA_DIR", raising=False)
    data = str(tmp_path / "instance")
    args = [
        "user",
        "create",
        "--email",
        "ada@acme.example",
        "--company",
        "Acme",
        "--admin",
        "--data-dir",
        data,
    ]
    assert main(args) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["token"].startswith(f"pat_{created['token_id']}_")
    assert main(["company", "add-tokens", "--company", "Acme", "--tokens", "50", "--data-dir", data]) == 0
    assert json.loads(capsys.readouterr().out)["available"] == 50
    assert (
        main(["user", "create", "--email", "ada@acme.example", "--company", "Acme", "--data-dir", data]) == 2
    )

    container = Container.build(
        Settings(data_dir=Path(data), log_json=False), dispatcher=RecordingDispatcher()
    )
    try:
        with TestClient(create_app(container=container)) as client:
            me = client.get("/v1/me", headers={"Authorization": f"Bearer {created['token']}"}).json()
        assert (me["email"], me["is_admin"], me["company_id"]) == (
            "ada@acme.example",
            True,
            created["company_id"],
        )
    finally:
        container.close()


def test_cli_resource_commands_act_with_the_users_rights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KB_DATA_DIR", raising=False)
    data = ["--data-dir", str(tmp_path / "instance")]
    assert main(["company", "create", "--name", "Acme", "--cloud-tokens", "100", *data]) == 0
    assert main(["user", "create", "--email", "ada@acme.example", "--company", "Acme", "--admin", *data]) == 0
    assert main(["user", "create", "--email", "bo@acme.example", "--company", "Acme", *data]) == 0
    capsys.readouterr()
    request = tmp_path / "embeddings.json"
    request.write_text(
        json.dumps(
            {
                "type": "embeddings",
                "display_name": "Vectors",
                "environment": "Test",
                "region": "eu-central-1",
                "models": ["all-minilm-l6-v2"],
                "plan": "S",
                "created_for": {"name": "Ada", "email": "ada@acme.example"},
            }
        )
    )
    as_ada = ["--as", "ada@acme.example", *data]
    assert main(["resource", "provision", "--request", str(request), "--preview", *as_ada]) == 0
    assert json.loads(capsys.readouterr().out)["balance_after"] == 94
    assert main(["resource", "provision", "--request", str(request), *as_ada]) == 0
    resource_id = json.loads(capsys.readouterr().out)["id"]
    assert main(["resource", "capacity", resource_id, "--plan", "M", *as_ada]) == 0
    assert json.loads(capsys.readouterr().out)["cloud_tokens"] == 12
    assert main(["resource", "list", "--type", "embeddings", *as_ada]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [resource_id]
    assert main(["resource", "deprovision", resource_id, "--as", "bo@acme.example", *data]) == 2
    assert main(["resource", "deprovision", resource_id, *as_ada]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "deprovisioning_scheduled"
