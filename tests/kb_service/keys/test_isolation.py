"""A key reaches only its own knowledge base: another KB's id is 404, a revoked key 401, no key 401."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kb_service.clock import SystemClock
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.keys.models import ApiKey
from kb_service.services import Services
from tests.conftest import KB, Drainer, create_kb, upload


def test_other_kbs_id_is_404(client: TestClient, kb: KB, container: Container, drain: Drainer) -> None:
    other = create_kb(container, "Other")
    doc_id = upload(client, other, "secret.txt", b"Other customer's secret plans.").json()["id"]
    drain()

    for method, path in [
        ("get", "/documents"),
        ("get", f"/documents/{doc_id}"),
        ("get", "/collections"),
        ("delete", f"/documents/{doc_id}"),
        ("get", "/collections/default/chunks"),
    ]:
        response = client.request(method, other.url(path), headers=kb.headers)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"
    response = client.post(other.url("/search"), headers=kb.headers, json={"query": "plans"})
    assert response.status_code == 404
    # The document id of another KB, asked through one's own KB, is not found either.
    assert client.get(kb.url(f"/documents/{doc_id}"), headers=kb.headers).status_code == 404
    assert client.delete(kb.url(f"/documents/{doc_id}"), headers=kb.headers).status_code == 404
    assert client.get(other.url(f"/documents/{doc_id}"), headers=other.headers).status_code == 200


def test_unknown_kb_id_is_404(client: TestClient, kb: KB) -> None:
    response = client.get("/v1/knowledge-bases/does-not-exist/documents", headers=kb.headers)
    assert response.status_code == 404


def test_missing_malformed_and_wrong_keys_are_401(client: TestClient, kb: KB) -> None:
    assert client.get(kb.url("/documents")).status_code == 401
    for header in ["Bearer nonsense", "Bearer kb_abc_def", f"Bearer {kb.key}x", f"Basic {kb.key}"]:
        response = client.get(kb.url("/documents"), headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["error"]["code"] == "unauthorized"


def test_revoked_key_is_401(client: TestClient, kb: KB, container: Container) -> None:
    with session_scope(container.sessions) as session:
        key_id = kb.key.split("_")[1]
        Services(session, container, SystemClock()).keys.revoke(key_id)
    response = client.get(kb.url("/documents"), headers=kb.headers)
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_embeddings_key_does_not_reach_the_kb(client: TestClient, kb: KB, container: Container) -> None:
    with session_scope(container.sessions) as session:
        paired = session.query(ApiKey).filter(ApiKey.resource_id == kb.embeddings_resource_id).one()
        assert paired.paired_with_key_id == kb.key.split("_")[1]
        issued = Services(session, container, SystemClock()).keys.create(kb.embeddings_resource_id, "direct")
    response = client.get(kb.url("/documents"), headers={"Authorization": f"Bearer {issued.secret}"})
    assert response.status_code == 404


def test_keys_are_stored_hashed_and_last_use_is_recorded(
    client: TestClient, kb: KB, container: Container
) -> None:
    key_id = kb.key.split("_")[1]
    with session_scope(container.sessions) as session:
        stored = session.get(ApiKey, key_id)
        assert stored is not None and stored.last_used_at is None
        assert kb.key.split("_", 2)[2] not in stored.secret_hash
    client.get(kb.url("/documents"), headers=kb.headers)
    with session_scope(container.sessions) as session:
        stored = session.get(ApiKey, key_id)
        assert stored is not None and stored.last_used_at is not None
