"""Keys managed by a resource's team: secret shown once, KB key paired with an embeddings key,
last-used date, revocation (a KB key takes its paired key along), activity entries."""

from __future__ import annotations

from tests.conftest import upload
from tests.factories.controlplane import ControlPlane


def test_a_kb_key_creates_a_paired_embeddings_key(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    embeddings = cp.embeddings(admin)
    kb = cp.knowledge_base(admin, embeddings["id"])
    created = cp.client.post(
        f"/v1/resources/{kb['id']}/keys", headers=admin.headers, json={"description": "app"}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith(f"kb_{body['key_id']}_")
    paired = body["paired_key"]
    assert (paired["resource_id"], paired["paired_with_key_id"]) == (embeddings["id"], body["key_id"])

    listed = cp.client.get(f"/v1/resources/{embeddings['id']}/keys", headers=admin.headers).json()
    assert [(k["key_id"], k["paired_with_key_id"]) for k in listed] == [(paired["key_id"], body["key_id"])]
    assert all("secret" not in k for k in listed)

    kb_keys = cp.client.get(f"/v1/resources/{kb['id']}/keys", headers=admin.headers).json()
    assert kb_keys[0]["last_used_at"] is None
    headers = {"Authorization": f"Bearer {body['secret']}"}
    assert cp.client.get(f"/v1/knowledge-bases/{kb['id']}/collections", headers=headers).status_code == 200
    kb_keys = cp.client.get(f"/v1/resources/{kb['id']}/keys", headers=admin.headers).json()
    assert kb_keys[0]["last_used_at"] is not None

    revoked = cp.client.delete(f"/v1/resources/{kb['id']}/keys/{body['key_id']}", headers=admin.headers)
    assert revoked.json()["revoked_at"] is not None
    assert cp.client.get(f"/v1/knowledge-bases/{kb['id']}/collections", headers=headers).status_code == 401
    listed = cp.client.get(f"/v1/resources/{embeddings['id']}/keys", headers=admin.headers).json()
    assert listed[0]["revoked_at"] is not None


def test_a_key_of_another_resource_cannot_be_revoked_through_this_one(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    first, second = cp.provision(admin), cp.provision(admin)
    key = cp.client.post(f"/v1/resources/{first['id']}/keys", headers=admin.headers, json={}).json()
    response = cp.client.delete(f"/v1/resources/{second['id']}/keys/{key['key_id']}", headers=admin.headers)
    assert response.status_code == 404


def test_key_management_and_kb_content_changes_are_in_the_activity_log(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    embeddings = cp.embeddings(admin)
    kb = cp.knowledge_base(admin, embeddings["id"])
    key = cp.client.post(
        f"/v1/resources/{kb['id']}/keys", headers=admin.headers, json={"description": "x"}
    ).json()
    from tests.conftest import KB

    handle = KB(kb["id"], embeddings["id"], key["secret"])
    uploaded = upload(cp.client, handle, "notes.txt", b"Secret launch plans for Tuesday.", collection="docs")
    assert uploaded.status_code == 202
    cp.client.delete(handle.url(f"/documents/{uploaded.json()['id']}"), headers=handle.headers)
    cp.client.delete(handle.url("/collections/docs"), headers=handle.headers)
    cp.client.delete(f"/v1/resources/{kb['id']}/keys/{key['key_id']}", headers=admin.headers)

    page = cp.client.get(f"/v1/resources/{kb['id']}/activity", headers=admin.headers).json()
    actions = [(e["action"], e["actor"]) for e in reversed(page["items"])]
    by_key = f"key:{key['key_id']}"
    assert actions == [
        ("resource.provisioned", admin.email),
        ("member.added", admin.email),  # Dana Dev, whom it was created for
        ("key.created", admin.email),
        ("collection.created", by_key),
        ("document.uploaded", by_key),
        ("document.deleted", by_key),
        ("collection.deleted", by_key),
        ("key.revoked", admin.email),
    ]
    assert page["total"] == 8
    text = str(page)
    assert "Secret launch plans" not in text and key["secret"] not in text
    embeddings_log = cp.client.get(f"/v1/resources/{embeddings['id']}/activity", headers=admin.headers).json()
    assert [e["action"] for e in embeddings_log["items"]][:2] == ["key.revoked", "key.created"]
