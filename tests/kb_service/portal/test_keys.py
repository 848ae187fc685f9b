"""The portal's Keys tab: a secret shown once, keys that work on /v1, revoke, pairing, permissions."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from kb_service.services import unit_of_work
from tests.factories.controlplane import ControlPlane, TestUser
from tests.kb_service.portal.conftest import csrf_of, sign_in, with_password

_SECRET = re.compile(r'id="new-key-secret">([^<]+)<')
_PAIRED_SECRET = re.compile(r'id="new-paired-key-secret">([^<]+)<')


def _admin_with_kb(cp: ControlPlane) -> tuple[TestUser, str, str]:
    admin = with_password(cp, cp.admin())
    embeddings = cp.embeddings(admin, display_name="Vectors")
    kb = cp.knowledge_base(admin, embeddings["id"], display_name="Support tickets")
    return admin, embeddings["id"], kb["id"]


def _create(client: TestClient, resource_id: str, description: str) -> Any:
    page = f"/portal/resources/{resource_id}/keys"
    token = csrf_of(client.get(page).text)
    return client.post(page, data={"csrf_token": token, "description": description})


def _v1_keys(cp: ControlPlane, user: TestUser, resource_id: str) -> list[dict[str, Any]]:
    response = cp.client.get(f"/v1/resources/{resource_id}/keys", headers=user.headers)
    assert response.status_code == 200, response.text
    keys: list[dict[str, Any]] = response.json()
    return keys


def test_empty_state_says_what_to_do(client: TestClient, control_plane: ControlPlane) -> None:
    admin, _, kb_id = _admin_with_kb(control_plane)
    sign_in(client, admin.email)
    page = client.get(f"/portal/resources/{kb_id}/keys")
    assert page.status_code == 200
    assert (
        "No keys yet. Create one to call this resource from your app; the secret is shown once." in page.text
    )
    assert 'aria-current="page">Keys</a>' in page.text


def test_created_key_is_shown_once_and_works_until_revoked(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin, _, kb_id = _admin_with_kb(cp)
    sign_in(client, admin.email)
    created = _create(client, kb_id, "Helpdesk app")
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    assert 'id="new-key-dialog"' in created.text
    assert "data-open-on-load" in created.text
    assert "it will not be shown again" in created.text
    found = _SECRET.search(created.text)
    assert found is not None
    secret = found.group(1)
    assert re.fullmatch(r"kb_[A-Za-z0-9]+_[A-Za-z0-9_\-]+", secret), secret
    [key] = _v1_keys(cp, admin, kb_id)
    assert secret.startswith(f"kb_{key['key_id']}_")
    assert key["description"] == "Helpdesk app"

    # The secret is a working key of this knowledge base.
    documents = f"/v1/knowledge-bases/{kb_id}/documents"
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get(documents, headers=bearer).status_code == 200

    # The list page never carries it again, nor its hash; it shows the key's id and its use.
    listing = client.get(f"/portal/resources/{kb_id}/keys")
    assert secret not in listing.text
    assert secret.split("_", 2)[2] not in listing.text
    assert "new-key-secret" not in listing.text
    assert key["key_id"] in listing.text
    assert "Helpdesk app" in listing.text
    assert "Never" not in listing.text  # it was just used

    token = csrf_of(listing.text)
    revoked = client.post(
        f"/portal/resources/{kb_id}/keys/{key['key_id']}/revoke",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert revoked.status_code == 303
    after = client.get(revoked.headers["location"])
    assert "The key Helpdesk app was revoked" in after.text
    assert "Revoked" in after.text
    assert 'aria-label="Revoke Helpdesk app"' not in after.text
    assert client.get(documents, headers=bearer).status_code == 401
    assert _v1_keys(cp, admin, kb_id)[0]["revoked_at"] is not None


def test_kb_key_comes_with_a_paired_embeddings_key_marked_on_both_sides(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin, embeddings_id, kb_id = _admin_with_kb(cp)
    sign_in(client, admin.email)
    created = _create(client, kb_id, "Helpdesk app")
    paired_secret = _PAIRED_SECRET.search(created.text)
    assert paired_secret is not None
    [kb_key] = _v1_keys(cp, admin, kb_id)
    [embeddings_key] = _v1_keys(cp, admin, embeddings_id)
    assert embeddings_key["paired_with_key_id"] == kb_key["key_id"]
    assert paired_secret.group(1).startswith(f"kb_{embeddings_key['key_id']}_")

    kb_page = client.get(f"/portal/resources/{kb_id}/keys").text
    assert f"Paired embeddings key {embeddings_key['key_id']}" in kb_page
    embeddings_page = client.get(f"/portal/resources/{embeddings_id}/keys").text
    assert "Created automatically for knowledge base Support tickets" in embeddings_page
    assert kb_key["key_id"] in embeddings_page
    assert paired_secret.group(1) not in embeddings_page

    # Revoking the KB key takes its embeddings key along.
    token = csrf_of(kb_page)
    client.post(f"/portal/resources/{kb_id}/keys/{kb_key['key_id']}/revoke", data={"csrf_token": token})
    assert _v1_keys(cp, admin, embeddings_id)[0]["revoked_at"] is not None


def test_an_empty_description_is_a_message_not_a_key(client: TestClient, control_plane: ControlPlane) -> None:
    cp = control_plane
    admin, _, kb_id = _admin_with_kb(cp)
    sign_in(client, admin.email)
    refused = _create(client, kb_id, "   ")
    assert refused.status_code == 422
    assert 'role="alert"' in refused.text
    assert "Give the key a description" in refused.text
    assert "new-key-secret" not in refused.text
    too_long = _create(client, kb_id, "x" * 501)
    assert "at most 500 characters" in too_long.text
    assert _v1_keys(cp, admin, kb_id) == []


def test_posts_without_csrf_are_refused(client: TestClient, control_plane: ControlPlane) -> None:
    cp = control_plane
    admin, _, kb_id = _admin_with_kb(cp)
    sign_in(client, admin.email)
    refused = client.post(f"/portal/resources/{kb_id}/keys", data={"description": "Sneaky"})
    assert refused.status_code == 403
    assert _v1_keys(cp, admin, kb_id) == []
    key = cp.client.post(
        f"/v1/resources/{kb_id}/keys", headers=admin.headers, json={"description": "API-made"}
    ).json()
    revoke = client.post(f"/portal/resources/{kb_id}/keys/{key['key_id']}/revoke", data={})
    assert revoke.status_code == 403
    assert _v1_keys(cp, admin, kb_id)[0]["revoked_at"] is None


def test_foreign_resources_and_keys_are_404(client: TestClient, control_plane: ControlPlane) -> None:
    cp = control_plane
    admin, _, kb_id = _admin_with_kb(cp)
    other = with_password(cp, cp.admin("Globex"))
    foreign = cp.provision(other, display_name="Their assistant")["id"]
    foreign_key = cp.client.post(f"/v1/resources/{foreign}/keys", headers=other.headers, json={}).json()
    sign_in(client, admin.email)
    assert client.get(f"/portal/resources/{foreign}/keys").status_code == 404
    token = csrf_of(client.get(f"/portal/resources/{kb_id}/keys").text)
    assert _create_on(client, foreign, token).status_code == 404
    # A key of another resource through this resource's URL: not found, and left alone.
    wrong = client.post(
        f"/portal/resources/{kb_id}/keys/{foreign_key['key_id']}/revoke", data={"csrf_token": token}
    )
    assert wrong.status_code == 404
    assert _v1_keys(cp, other, foreign)[0]["revoked_at"] is None


def _create_on(client: TestClient, resource_id: str, token: str) -> Any:
    return client.post(
        f"/portal/resources/{resource_id}/keys", data={"csrf_token": token, "description": "Nope"}
    )


def test_external_members_manage_keys_colleagues_off_the_team_see_nothing(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin, embeddings_id, kb_id = _admin_with_kb(cp)
    cp.client.patch("/v1/company", headers=admin.headers, json={"external_invitations_enabled": True})
    outsider = cp.admin("Globex")
    guest = with_password(cp, cp.user(outsider.company_id, "guest@globex.example"))
    invitation = cp.client.post(
        f"/v1/resources/{kb_id}/invitations", headers=admin.headers, json={"email": guest.email}
    ).json()
    cp.client.post(f"/v1/invitations/{invitation['id']}/accept", headers=guest.headers)
    colleague = with_password(cp, cp.user(admin.company_id, "colleague@acme.example"))

    sign_in(client, guest.email)
    page = client.get(f"/portal/resources/{kb_id}/keys")
    assert "Create key" in page.text
    assert _create(client, kb_id, "Guest app").status_code == 200
    assert [k["description"] for k in _v1_keys(cp, admin, kb_id)] == ["Guest app"]
    # The guest is not on the embeddings resource's team: it does not exist for them.
    assert client.get(f"/portal/resources/{embeddings_id}/keys").status_code == 404

    client.cookies.clear()
    sign_in(client, colleague.email)
    assert client.get(f"/portal/resources/{kb_id}/keys").status_code == 404


def test_a_deprovisioned_resource_takes_no_new_keys(client: TestClient, control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = with_password(cp, cp.admin())
    text = cp.provision(admin, display_name="Assistant")["id"]
    assert cp.client.post(f"/v1/resources/{text}/deprovision", headers=admin.headers).status_code == 200
    cp.clock.advance(days=62)
    with unit_of_work(cp.container, cp.clock) as services:
        assert services.resources.carry_out_deprovisions() == 1
    sign_in(client, admin.email)
    token = csrf_of(client.get(f"/portal/resources/{text}/keys").text)
    response = _create_on(client, text, token)
    assert response.status_code == 409
    assert 'role="alert"' in response.text
    assert "A deprovisioned resource takes no new keys." in response.text


def test_a_kb_off_the_users_team_is_not_named_on_the_embeddings_keys(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin, embeddings_id, kb_id = _admin_with_kb(cp)
    member = with_password(cp, cp.user(admin.company_id, "member@acme.example"))
    added = cp.client.post(
        f"/v1/resources/{embeddings_id}/members", headers=admin.headers, json={"email": member.email}
    )
    assert added.status_code == 201, added.text
    cp.client.post(f"/v1/resources/{kb_id}/keys", headers=admin.headers, json={"description": "Helpdesk"})
    sign_in(client, member.email)
    page = client.get(f"/portal/resources/{embeddings_id}/keys").text
    assert "Created automatically for a knowledge base" in page
    assert "Support tickets" not in page
