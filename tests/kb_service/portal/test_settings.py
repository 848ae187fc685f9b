"""The portal's Settings tab: every field as /v1 reports it, and rename / environment / default model
offered and accepted by role."""

from __future__ import annotations

import html
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories.controlplane import ControlPlane, TestUser
from tests.kb_service.portal.conftest import csrf_of, sign_in, with_password

MODELS = ["anthropic.claude-haiku-4-5", "anthropic.claude-sonnet-4-5"]


def _settings(cp: ControlPlane, user: TestUser, resource_id: str) -> dict[str, Any]:
    response = cp.client.get(f"/v1/resources/{resource_id}/settings", headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _team(cp: ControlPlane) -> tuple[str, dict[str, TestUser]]:
    """A text resource with an admin, a member and an external member (all with passwords)."""
    admin = with_password(cp, cp.admin())
    cp.client.patch("/v1/company", headers=admin.headers, json={"external_invitations_enabled": True})
    resource_id = cp.provision(admin, display_name="Assistant", models=MODELS, default_model=MODELS[0])["id"]
    member = with_password(cp, cp.user(admin.company_id, "member@acme.example"))
    cp.client.post(
        f"/v1/resources/{resource_id}/members", headers=admin.headers, json={"email": member.email}
    )
    outsider = cp.admin("Globex")
    guest = with_password(cp, cp.user(outsider.company_id, "guest@globex.example"))
    invitation = cp.client.post(
        f"/v1/resources/{resource_id}/invitations", headers=admin.headers, json={"email": guest.email}
    ).json()
    accepted = cp.client.post(f"/v1/invitations/{invitation['id']}/accept", headers=guest.headers)
    assert accepted.status_code == 200, accepted.text
    return resource_id, {"admin": admin, "member": member, "external": guest}


def _post(client: TestClient, resource_id: str, form: str, **fields: str) -> Any:
    token = csrf_of(client.get(f"/portal/resources/{resource_id}/settings").text)
    return client.post(
        f"/portal/resources/{resource_id}/settings/{form}",
        data={"csrf_token": token, **fields},
        follow_redirects=False,
    )


def _day(iso: str) -> str:
    from datetime import date

    d = date.fromisoformat(iso)
    return f"{d:%B} {d.day}, {d.year}"


def test_text_settings_show_every_field_as_v1_reports_it(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    resource_id, users = _team(cp)
    v1 = _settings(cp, users["admin"], resource_id)
    sign_in(client, users["admin"].email)
    page = client.get(f"/portal/resources/{resource_id}/settings")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    text = html.unescape(page.text)
    for value in (
        v1["display_name"],
        v1["id"],
        v1["company_name"],
        v1["environment"],
        v1["cloud_provider"],
        v1["status_label"],
        v1["default_model"],
        v1["created_for"]["name"],
        v1["created_for"]["email"],
        f"{v1['cloud_tokens']:,}",
        f"{v1['genai_units_per_month']:,}",
        _day(v1["activated_on"]),
        _day(v1["refill_on"]),
        *v1["regions"],
        *v1["models"],
        *v1["available_models"],
    ):
        assert str(value) in text, value
    assert ("Enabled" if v1["cross_region_inference"] else "Disabled") in text
    assert "Text generation" in text
    for label in ("Cross Region Inference (CRI)", "Region(s)", "Available models", "Bundle refill date"):
        assert label in text


def test_kb_and_embeddings_settings_link_each_other(client: TestClient, control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = with_password(cp, cp.admin())
    embeddings = cp.embeddings(admin, display_name="Vectors")["id"]
    kb = cp.knowledge_base(admin, embeddings, display_name="Support tickets")["id"]
    sign_in(client, admin.email)
    kb_page = client.get(f"/portal/resources/{kb}/settings").text
    assert _settings(cp, admin, kb)["embeddings_resource_id"] == embeddings
    assert f'href="/portal/resources/{embeddings}">Vectors</a>' in kb_page
    assert "Default model" not in kb_page
    embeddings_page = client.get(f"/portal/resources/{embeddings}/settings").text
    assert _settings(cp, admin, embeddings)["linked_knowledge_base_ids"] == [kb]
    assert f'href="/portal/resources/{kb}">Support tickets</a>' in embeddings_page


def test_admin_renames_changes_environment_and_default_model(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    resource_id, users = _team(cp)
    admin = users["admin"]
    sign_in(client, admin.email)

    renamed = _post(client, resource_id, "name", display_name="  Helpdesk assistant ")
    assert renamed.status_code == 303
    page = client.get(renamed.headers["location"]).text
    assert "The display name was saved." in page
    assert "<h1>Helpdesk assistant</h1>" in page
    assert _settings(cp, admin, resource_id)["display_name"] == "Helpdesk assistant"

    moved = _post(client, resource_id, "environment", environment="Production")
    assert moved.status_code == 303
    assert '<option value="Production" selected>' in client.get(moved.headers["location"]).text
    assert _settings(cp, admin, resource_id)["environment"] == "Production"

    switched = _post(client, resource_id, "default-model", default_model=MODELS[1])
    assert switched.status_code == 303
    assert f'<option value="{MODELS[1]}" selected>' in client.get(switched.headers["location"]).text
    assert _settings(cp, admin, resource_id)["default_model"] == MODELS[1]


@pytest.mark.parametrize(
    ("form", "fields", "message"),
    [
        (
            "default-model",
            {"default_model": "anthropic.claude-opus-4-1"},
            "must be one of the resource's models",
        ),
        ("name", {"display_name": "   "}, "The display name cannot be empty."),
        ("environment", {"environment": "Staging"}, "Choose one of: Test, Acceptance, Production."),
    ],
)
def test_a_refused_change_is_a_message_next_to_its_form(
    client: TestClient, control_plane: ControlPlane, form: str, fields: dict[str, str], message: str
) -> None:
    cp = control_plane
    resource_id, users = _team(cp)
    before = _settings(cp, users["admin"], resource_id)
    sign_in(client, users["admin"].email)
    refused = _post(client, resource_id, form, **fields)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in refused.text
    assert message in html.unescape(refused.text)
    assert _settings(cp, users["admin"], resource_id) == before


def test_default_model_is_not_offered_on_embeddings(client: TestClient, control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = with_password(cp, cp.admin())
    embeddings = cp.embeddings(admin, display_name="Vectors")["id"]
    sign_in(client, admin.email)
    page = client.get(f"/portal/resources/{embeddings}/settings").text
    assert "Save default model" not in page
    assert "Save name" in page
    refused = _post(client, embeddings, "default-model", default_model="all-minilm-l6-v2")
    assert refused.status_code == 422
    assert "Only text-generation resources have a default model." in refused.text


def test_member_may_rename_external_member_may_only_change_the_model(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    resource_id, users = _team(cp)
    admin = users["admin"]

    sign_in(client, users["member"].email)
    page = client.get(f"/portal/resources/{resource_id}/settings").text
    for button in ("Save name", "Save environment", "Save default model"):
        assert button in page
    assert _post(client, resource_id, "name", display_name="Member named").status_code == 303
    assert _settings(cp, admin, resource_id)["display_name"] == "Member named"

    client.cookies.clear()
    sign_in(client, users["external"].email)
    page = client.get(f"/portal/resources/{resource_id}/settings").text
    assert "Save name" not in page
    assert "Save environment" not in page
    assert "Save default model" in page
    assert "you cannot change the display name or the environment" in page
    # Not offered, and refused anyway.
    for form, fields in (
        ("name", {"display_name": "Guest named"}),
        ("environment", {"environment": "Production"}),
    ):
        refused = _post(client, resource_id, form, **fields)
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("text/html")
    after = _settings(cp, admin, resource_id)
    assert (after["display_name"], after["environment"]) == ("Member named", "Test")
    assert _post(client, resource_id, "default-model", default_model=MODELS[1]).status_code == 303
    assert _settings(cp, admin, resource_id)["default_model"] == MODELS[1]


def test_csrf_and_foreign_resources(client: TestClient, control_plane: ControlPlane) -> None:
    cp = control_plane
    resource_id, users = _team(cp)
    other = cp.admin("Initech")
    foreign = cp.provision(other, display_name="Their assistant")["id"]
    sign_in(client, users["admin"].email)
    no_token = client.post(f"/portal/resources/{resource_id}/settings/name", data={"display_name": "Sneaky"})
    assert no_token.status_code == 403
    assert _settings(cp, users["admin"], resource_id)["display_name"] == "Assistant"
    assert client.get(f"/portal/resources/{foreign}/settings").status_code == 404
    token = csrf_of(client.get(f"/portal/resources/{resource_id}/settings").text)
    taken = client.post(
        f"/portal/resources/{foreign}/settings/name", data={"csrf_token": token, "display_name": "Mine"}
    )
    assert taken.status_code == 404
    assert _settings(cp, other, foreign)["display_name"] == "Their assistant"


def test_scheduled_downgrade_and_deprovisioning_are_shown(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin = with_password(cp, cp.admin())
    resource_id = cp.provision(admin, display_name="Assistant", plan="M")["id"]
    cp.clock.advance(days=3)  # some days into the bundle month: a downgrade waits for the next one
    downgraded = cp.client.put(
        f"/v1/resources/{resource_id}/capacity", headers=admin.headers, json={"plan": "S"}
    )
    assert downgraded.status_code == 200, downgraded.text
    assert (
        cp.client.post(f"/v1/resources/{resource_id}/deprovision", headers=admin.headers).status_code == 200
    )
    v1 = _settings(cp, admin, resource_id)
    assert v1["scheduled_change"] is not None
    assert v1["deprovision_on"] is not None
    sign_in(client, admin.email)
    text = html.unescape(client.get(f"/portal/resources/{resource_id}/settings").text)
    change = v1["scheduled_change"]
    assert f"On {_day(change['on'])}: plan {change['plan']}, {change['cloud_tokens']:,} Cloud Tokens" in text
    assert _day(v1["deprovision_on"]) in text
    assert v1["status_label"] in text
    assert "Not scheduled" not in text
