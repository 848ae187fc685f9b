"""Issue 13 in the portal: "Available models" are the enabled ones and admins change them on the
Settings tab; every resource type has an Activity tab; the control center cancels a scheduled
deprovisioning."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from tests.factories.controlplane import ControlPlane
from tests.kb_service.portal.conftest import csrf_of, sign_in, with_password

HAIKU = "anthropic.claude-haiku-4-5"
SONNET = "anthropic.claude-sonnet-4-5"


def _dd(page: str, label: str) -> str:
    found = re.search(rf"<dt>{re.escape(label)}</dt><dd>(.*?)</dd>", page, re.S)
    assert found is not None, label
    return found.group(1)


def test_available_models_are_the_enabled_ones_and_admins_change_them(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin = with_password(cp, cp.admin())
    dana = with_password(cp, cp.user(admin.company_id, "dana@acme.example"))
    text = cp.provision(admin, models=[HAIKU])
    url = f"/portal/resources/{text['id']}/settings"
    sign_in(client, admin.email)
    page = client.get(url).text
    assert re.findall(r'class="tag">([^<]+)<', _dd(page, "Available models")) == [HAIKU]
    assert SONNET in _dd(page, "Models in eu-central-1")

    saved = client.post(
        f"{url}/models",
        data={"csrf_token": csrf_of(page), "models": [HAIKU, SONNET], "default_model": SONNET},
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    page = client.get(saved.headers["location"]).text
    assert "The enabled models were saved." in page
    assert re.findall(r'class="tag">([^<]+)<', _dd(page, "Available models")) == [HAIKU, SONNET]
    sent = client.post(
        f"{url}/models",
        data={
            "csrf_token": csrf_of(page),
            "models": ["anthropic.claude-opus-4-1", HAIKU],
        },  # drops the default
    )
    assert sent.status_code == 422
    assert "default model must stay among the enabled" in html.unescape(sent.text)

    # A team member sees the models but no form, and a hand-made post is refused.
    client.post("/portal/sign-out", data={"csrf_token": csrf_of(page)})
    sign_in(client, dana.email)
    member_page = client.get(url).text
    assert 'action="/portal/resources/' + text["id"] + '/settings/models"' not in member_page
    forbidden = client.post(f"{url}/models", data={"csrf_token": csrf_of(member_page), "models": [HAIKU]})
    assert forbidden.status_code == 403


def test_every_resource_type_has_an_activity_tab(client: TestClient, control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = with_password(cp, cp.admin())
    text = cp.provision(admin, display_name="Writer")
    embeddings = cp.embeddings(admin, display_name="Vectors")
    kb = cp.knowledge_base(admin, embeddings["id"], display_name="Tickets")
    cp.client.patch(f"/v1/resources/{text['id']}", headers=admin.headers, json={"environment": "Production"})
    sign_in(client, admin.email)
    for resource in (text, embeddings, kb):
        tab = client.get(f"/portal/resources/{resource['id']}/activity")
        assert tab.status_code == 200, resource["type"]
        assert (
            f'href="/portal/resources/{resource["id"]}/activity" aria-current="page">Activity</a>' in tab.text
        )
        assert "Provisioned resource" in tab.text
    text_tab = html.unescape(client.get(f"/portal/resources/{text['id']}/activity").text)
    assert "Changed settings" in text_tab and "environment: Production" in text_tab
    outsider = with_password(cp, cp.admin("Globex"))
    client.post("/portal/sign-out", data={"csrf_token": csrf_of(text_tab)})
    sign_in(client, outsider.email)
    assert client.get(f"/portal/resources/{text['id']}/activity").status_code == 404


def test_the_control_center_cancels_a_scheduled_deprovisioning(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin = with_password(cp, cp.admin())
    text = cp.provision(admin, display_name="Writer")
    sign_in(client, admin.email)
    overview = client.get("/portal/control").text
    assert "Cancel deprovisioning" not in overview
    client.post(f"/portal/control/resources/{text['id']}/deprovision", data={"csrf_token": csrf_of(overview)})
    overview = client.get("/portal/control").text
    assert "Cancel deprovisioning" in overview
    cancelled = client.post(
        f"/portal/control/resources/{text['id']}/deprovision/cancel",
        data={"csrf_token": csrf_of(overview)},
        follow_redirects=True,
    )
    assert cancelled.status_code == 200
    assert "The deprovisioning of Writer was cancelled" in cancelled.text
    assert cp.client.get(f"/v1/resources/{text['id']}", headers=admin.headers).json()["status"] == "active"


def test_provisioning_for_an_outsider_says_an_invitation_was_sent(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin = with_password(cp, cp.admin())
    cp.client.patch("/v1/company", headers=admin.headers, json={"external_invitations_enabled": True})
    sign_in(client, admin.email)
    form = {
        "csrf_token": csrf_of(client.get("/portal/control/provision").text),
        "type": "embeddings",
        "display_name": "Vectors",
        "environment": "Test",
        "region": "eu-central-1",
        "models": ["all-minilm-l6-v2"],
        "plan": "S",
        "created_for_name": "Guest",
        "created_for_email": "guest@globex.example",
    }
    done = client.post("/portal/control/provision", data=form, follow_redirects=True)
    assert done.status_code == 200, done.text
    notice = html.unescape(done.text)
    assert "Vectors was provisioned. guest@globex.example is not a user of the company" in notice
    assert "external invitation" in notice
