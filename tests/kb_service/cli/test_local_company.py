"""`kb-service kb create` puts the KB and its embeddings resource in a company (issue #13): `Local` by
default, created when missing, or the one named by `--company`; so the control plane (and the
portal) show them to that company, and capacity can be set on them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kb_service.api import create_app
from kb_service.cli import main
from kb_service.config import Settings
from kb_service.container import Container
from kb_service.queue.outbox import RecordingDispatcher


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(list(argv)) == 0
    answer = json.loads(capsys.readouterr().out)
    assert isinstance(answer, dict)
    return answer


def test_kb_create_lands_in_the_local_company_its_admin_sees(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KB_DATA_DIR", raising=False)
    data = ["--data-dir", str(tmp_path / "instance")]
    first = _run(capsys, "kb", "create", "--name", "Support", *data)
    second = _run(capsys, "kb", "create", "--name", "Sales", *data)
    assert first["company"] == second["company"] == "Local"
    assert first["company_id"] == second["company_id"]  # one Local company, made once
    admin = _run(
        capsys, "user", "create", "--email", "ada@local.example", "--company", "Local", "--admin", *data
    )
    assert admin["company_id"] == first["company_id"]

    container = Container.build(
        Settings(data_dir=tmp_path / "instance", log_json=False), dispatcher=RecordingDispatcher()
    )
    try:
        with TestClient(create_app(container=container)) as client:
            headers = {"Authorization": f"Bearer {admin['token']}"}
            listed = client.get("/v1/resources", headers=headers)
            assert listed.status_code == 200
            by_id = {r["id"]: r for r in listed.json()}
            assert {
                first["knowledge_base_id"],
                first["embeddings_resource_id"],
                second["knowledge_base_id"],
            } <= set(by_id)
            embeddings = by_id[str(first["embeddings_resource_id"])]
            assert embeddings["activated_on"] is not None and embeddings["cloud_tokens"] == 0
            settings = client.get(
                f"/v1/resources/{first['embeddings_resource_id']}/settings", headers=headers
            )
            assert settings.status_code == 200
            assert settings.json()["linked_knowledge_base_ids"] == [first["knowledge_base_id"]]
            # Capacity applies: a company admin sizes the embeddings resource like any other.
            assert main(["company", "add-tokens", "--company", "Local", "--tokens", "20", *data]) == 0
            capsys.readouterr()
            sized = client.put(
                f"/v1/resources/{first['embeddings_resource_id']}/capacity",
                headers=headers,
                json={"plan": "S"},
            )
            assert sized.status_code == 200, sized.text
            assert sized.json()["plan"] == "S" and sized.json()["genai_units_per_month"] > 0
    finally:
        container.close()


def test_kb_create_takes_a_company_and_refuses_another_companys_embeddings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KB_DATA_DIR", raising=False)
    data = ["--data-dir", str(tmp_path / "instance")]
    acme = _run(capsys, "kb", "create", "--name", "Docs", "--company", "Acme", *data)
    assert acme["company"] == "Acme"
    assert main(["kb", "list", *data]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["knowledge_base_id"], r["company_id"]) for r in rows] == [
        (acme["knowledge_base_id"], acme["company_id"])
    ]
    # Linking to an existing embeddings resource: the company's own is fine, another company's is not found.
    linked = _run(
        capsys, "kb", "create", "--name", "Docs 2", "--company", "Acme",
        "--embeddings-resource", str(acme["embeddings_resource_id"]), *data,
    )  # fmt: skip
    assert linked["embeddings_resource_id"] == acme["embeddings_resource_id"]
    code = main(
        [
            "kb",
            "create",
            "--name",
            "Stolen",
            "--embeddings-resource",
            str(acme["embeddings_resource_id"]),
            *data,
        ]
    )
    assert code == 2
    error = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert error["error"]["code"] == "not_found"
