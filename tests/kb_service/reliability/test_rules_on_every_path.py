"""Rules that must hold on every path (issue 13): the ledger is for admins, the default collection
stays, collection names stay reachable; and a blank question is a clear refusal (issue 15)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import KB, upload
from tests.factories.controlplane import ControlPlane


def test_the_cloud_token_ledger_is_for_company_admins_only(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin(tokens=100)
    member = cp.user(admin.company_id, "member@acme.example")
    cp.provision(admin)
    refused = cp.client.get("/v1/company/cloud-tokens", headers=member.headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert "resource_id" not in refused.text
    assert cp.client.get("/v1/company/cloud-tokens", headers=admin.headers).status_code == 200
    # The balance itself stays readable by every user of the company.
    assert cp.client.get("/v1/company", headers=member.headers).status_code == 200


def test_the_default_collection_cannot_be_deleted_but_can_be_emptied(client: TestClient, kb: KB) -> None:
    assert upload(client, kb, "notes.txt", b"Printer setup notes.").status_code == 202
    refused = client.delete(kb.url("/collections/default"), headers=kb.headers)
    assert refused.status_code == 409
    assert "cannot be deleted" in refused.json()["error"]["message"]
    names = [c["name"] for c in client.get(kb.url("/collections"), headers=kb.headers).json()]
    assert "default" in names
    emptied = client.post(
        kb.url("/collections/default/chunks"), headers=kb.headers, json={"mode": "repopulate", "chunks": []}
    )
    assert emptied.status_code == 202


def test_collection_names_that_would_be_unreachable_are_refused(client: TestClient, kb: KB) -> None:
    for name in ("a/b/c", "back\\slash", "..", " "):
        response = upload(client, kb, "notes.txt", b"Some text.", collection=name)
        assert response.status_code == 422, name
        body = response.json()["error"]
        assert body["details"]["field"] == "collection"
    too_long = upload(client, kb, "notes.txt", b"Some text.", collection="x" * 201)
    assert too_long.status_code == 422
    pushed = client.post(
        kb.url("/collections/a%2Fb/chunks"),
        headers=kb.headers,
        json={"mode": "insert", "chunks": [{"text": "t", "human_readable_id": "h"}]},
    )
    assert pushed.status_code in (404, 422)


def test_a_blank_question_is_a_422_naming_the_query(client: TestClient, kb: KB) -> None:
    response = client.post(kb.url("/search"), headers=kb.headers, json={"query": "   "})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert "query" in error["message"] and "blank" in error["message"]
