"""The control center's GenAI Resources pages through the API client: overview, ⋯ actions, provisioning."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kb_service.resources.validation import PLATFORM_ACCOUNT_WARNING
from tests.factories.controlplane import ControlPlane, TestUser
from tests.kb_service.portal.conftest import csrf_of, sign_in, with_password

CONTROL = "/portal/control"


def _admin(control_plane: ControlPlane, *, tokens: int = 1000, **subscription: Any) -> TestUser:
    admin = with_password(control_plane, control_plane.admin(tokens=tokens, **subscription))
    control_plane.colleague(admin)  # Dana Dev, whom the form's resources are created for
    sign_in(control_plane.client, admin.email)
    return admin


def _token(client: TestClient, path: str = CONTROL) -> str:
    return csrf_of(client.get(path).text)


def _form(**fields: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "type": "embeddings",
        "display_name": "Vectors",
        "environment": "Test",
        "region": "eu-central-1",
        "models": ["all-minilm-l6-v2"],
        "plan": "S",
        "created_for_name": "Dana Dev",
        "created_for_email": "dana@acme.example",
    }
    form.update(fields)
    return form


def _row(html: str, name: str) -> str:
    """The overview table row of the resource called `name`."""
    table = html.split('aria-label="GenAI resources"', 1)[1]
    for row in table.split("<tr")[1:]:
        if f">{name}</a>" in row:
            return row
    raise AssertionError(f"no row for {name}")


def test_non_admins_get_403_everywhere_and_no_control_center_link(
    client: TestClient, control_plane: ControlPlane
) -> None:
    admin = control_plane.admin()
    member = with_password(control_plane, control_plane.user(admin.company_id, "member@acme.example"))
    embeddings = control_plane.embeddings(admin, display_name="Vectors")
    control_plane.provision(admin, display_name="Writer")  # the member sees no resource list either way
    sign_in(client, member.email)
    resources = client.get("/portal/resources").text
    assert "Control center" not in resources
    token = csrf_of(resources)
    rid = embeddings["id"]
    for method, path in [
        ("get", CONTROL),
        ("get", f"{CONTROL}/provision"),
        ("post", f"{CONTROL}/provision/review"),
        ("post", f"{CONTROL}/provision"),
        ("post", f"{CONTROL}/resources/{rid}/deprovision"),
        ("post", f"{CONTROL}/resources/{rid}/capacity"),
        ("post", f"{CONTROL}/resources/{rid}/capacity/cancel"),
    ]:
        response = client.request(method, path, data={"csrf_token": token, **_form()})
        assert response.status_code == 403, path
        assert "company admins" in response.text
    preview = client.post(f"{CONTROL}/provision/preview.json", data=_form(), headers={"X-CSRF-Token": token})
    assert preview.status_code == 403
    assert client.get(f"/v1/resources/{rid}", headers=admin.headers).json()["status"] == "active"


def test_overview_lists_resources_balance_and_ledger(client: TestClient, control_plane: ControlPlane) -> None:
    admin = _admin(control_plane, tokens=1500)
    empty = client.get(CONTROL).text
    assert "No resources yet" in empty
    assert "1,500" in empty
    embeddings = control_plane.embeddings(admin, display_name="Vectors", cloud_tokens=16)
    control_plane.knowledge_base(admin, embeddings["id"], display_name="Support tickets")
    control_plane.provision(admin, display_name="Writer", plan="M")
    page = client.get(CONTROL).text
    assert 'href="/portal/control/provision"' in page
    assert "1.6k GU / month" in _row(page, "Vectors")
    assert "M · 6k GU / month" in _row(page, "Writer")
    assert "Standard" in _row(page, "Support tickets")
    assert f'href="/portal/resources/{embeddings["id"]}"' in page
    assert 'aria-label="Actions for Vectors"' in page
    # Balance: 1,500 total, 16 + 48 + 60 = 124 used.
    assert ">1,376<" in page
    assert ">124<" in page
    ledger = page.split('aria-label="Cloud Token ledger"', 1)[1].split("</table>", 1)[0]
    reasons = re.findall(r"<td>(Provisioned|Purchase)</td>", ledger)
    assert reasons == ["Provisioned", "Provisioned", "Provisioned", "Purchase"]  # newest first
    assert ledger.index("Writer") < ledger.index("Support tickets") < ledger.index("Vectors")
    assert "-60" in ledger
    kbs = client.get(f"{CONTROL}?type=knowledge_base").text
    assert "Support tickets" in kbs
    assert ">Vectors</a>" not in kbs
    assert 'href="/portal/control/provision?type=knowledge_base"' in kbs


def test_deprovision_shows_the_scheduled_date(client: TestClient, control_plane: ControlPlane) -> None:
    admin = _admin(control_plane)
    embeddings = control_plane.embeddings(admin, display_name="Vectors")
    kb = control_plane.knowledge_base(admin, embeddings["id"], display_name="Support tickets")
    page = client.get(CONTROL).text
    dialog = page.split(f'id="deprovision-{embeddings["id"]}"', 1)[1].split("</dialog>", 1)[0]
    assert "Linked knowledge bases</dt><dd>Support tickets" in dialog
    assert "eu-central-1" in dialog
    # The embeddings resource still has a KB: the service refuses, the page says why.
    token = csrf_of(page)
    refused = client.post(f"{CONTROL}/resources/{embeddings['id']}/deprovision", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "deprovision them first" in refused.text
    response = client.post(
        f"{CONTROL}/resources/{kb['id']}/deprovision", data={"csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    page = client.get(response.headers["location"]).text
    # Activated 2026-01-15: the bundle month ends 2026-02-15.
    assert "Deprovisioning on February 15, 2026" in _row(page, "Support tickets")
    assert "Support tickets will be deprovisioned on February 15, 2026" in page
    assert f'id="deprovision-{kb["id"]}"' not in page  # not offered twice
    assert client.post(f"{CONTROL}/resources/{kb['id']}/deprovision").status_code == 403  # no CSRF


def test_capacity_increase_decrease_and_short_tokens(client: TestClient, control_plane: ControlPlane) -> None:
    admin = _admin(control_plane, tokens=100)
    embeddings = control_plane.embeddings(admin, display_name="Vectors", cloud_tokens=10)
    rid = embeddings["id"]
    page = client.get(CONTROL).text
    dialog = page.split(f'id="capacity-{rid}"', 1)[1].split("</dialog>", 1)[0]
    assert 'data-current-tokens="10"' in dialog
    assert 'data-available="90"' in dialog
    assert 'name="cloud_tokens"' in dialog
    token = csrf_of(page)
    url = f"{CONTROL}/resources/{rid}/capacity"
    up = client.post(url, data={"csrf_token": token, "cloud_tokens": "40"})
    assert up.status_code == 200
    assert "Vectors now has 4k GU / month" in up.text
    assert "Capacity increase" in up.text
    down = client.post(url, data={"csrf_token": token, "cloud_tokens": "20"})
    assert "Vectors now has 2k GU / month" in down.text  # nothing used yet: applies at once
    short = client.post(url, data={"csrf_token": token, "cloud_tokens": "500"})
    assert short.status_code == 409
    assert "Not enough Cloud Tokens: the increase needs 480, 80 are free (400 missing)." in short.text
    assert "data-open-on-load" in short.text.split(f'id="capacity-{rid}"', 1)[1].split(">", 1)[0]
    bad = client.post(url, data={"csrf_token": token, "cloud_tokens": "lots"})
    assert bad.status_code == 422
    assert "whole number" in bad.text
    assert client.get(f"/v1/resources/{rid}", headers=admin.headers).json()["cloud_tokens"] == 20


def test_plan_downgrade_is_scheduled_and_cancellable(client: TestClient, control_plane: ControlPlane) -> None:
    admin = _admin(control_plane)
    writer = control_plane.provision(admin, display_name="Writer", plan="L")
    rid = writer["id"]
    token = _token(client)
    client.post(f"{CONTROL}/resources/{rid}/capacity", data={"csrf_token": token, "plan": "M"})
    page = client.get(CONTROL).text
    row = _row(page, "Writer")
    assert "PLAN DOWNGRADE SCHEDULED" in row
    assert "Change to M on February 15, 2026" in row
    assert "Cancel scheduled change" in row
    response = client.post(f"{CONTROL}/resources/{rid}/capacity/cancel", data={"csrf_token": token})
    assert "The scheduled change of Writer was cancelled." in response.text
    assert "Cancel scheduled change" not in _row(response.text, "Writer")
    again = client.post(f"{CONTROL}/resources/{rid}/capacity/cancel", data={"csrf_token": token})
    assert again.status_code == 409
    assert "No capacity change is scheduled" in again.text


def test_preview_json_returns_the_spec_or_a_precise_error(
    client: TestClient, control_plane: ControlPlane
) -> None:
    _admin(control_plane, tokens=100)
    token = _token(client, f"{CONTROL}/provision")
    url = f"{CONTROL}/provision/preview.json"
    headers = {"X-CSRF-Token": token}
    spec = client.post(url, data=_form(plan="tokens", cloud_tokens="16"), headers=headers)
    assert spec.status_code == 200, spec.text
    assert spec.json()["genai_units_per_month"] == 1600
    assert (spec.json()["balance_before"], spec.json()["balance_after"]) == (100, 84)
    light = _form(region="ca-central-1", models=["embed-english-light-v3.0"])
    refused = client.post(url, data=light, headers=headers)
    assert refused.status_code == 422
    assert (
        refused.json()["error"]["message"]
        == "Cohere Embed v3 English Light is not available in ca-central-1."
    )
    assert refused.json()["error"]["field"] == "models"
    kb = client.post(url, data=_form(type="knowledge_base", plan="Standard"), headers=headers)
    assert kb.status_code == 422
    assert kb.json()["error"]["field"] == "embeddings_resource_id"
    email = client.post(url, data=_form(created_for_email="nope"), headers=headers)
    assert email.status_code == 422
    assert email.json()["error"]["field"] == "created_for_email"
    costly = client.post(url, data=_form(plan="tokens", cloud_tokens="500"), headers=headers)
    assert costly.status_code == 409
    assert costly.json()["error"]["field"] == "size"
    missing = client.post(url, data=_form())
    assert missing.status_code == 403
    assert missing.json()["error"]["code"] == "csrf_rejected"


def test_provision_through_review_and_confirm(client: TestClient, control_plane: ControlPlane) -> None:
    admin = _admin(control_plane)
    form_page = client.get(f"{CONTROL}/provision?type=text_generation").text
    assert 'id="catalog"' in form_page
    assert "anthropic.claude-opus-4-1" in form_page
    token = csrf_of(form_page)
    fields = _form(
        type="text_generation",
        display_name="Writer",
        models=["anthropic.claude-haiku-4-5", "anthropic.claude-sonnet-4-5"],
        default_model="anthropic.claude-sonnet-4-5",
        plan="M",
        cri_shown="1",
    )
    review = client.post(f"{CONTROL}/provision/review", data={"csrf_token": token, **fields})
    assert review.status_code == 200
    assert "Confirm and provision" in review.text
    assert "6,000 GU / month" in review.text
    assert "1,000 → 940" in review.text
    assert "Cross-region inference</dt><dd>Off" in review.text  # unchecked box, kept as unchecked
    back = client.post(f"{CONTROL}/provision", data={"csrf_token": token, "back": "1", **fields})
    assert 'value="Writer"' in back.text
    assert client.get("/v1/resources", headers=admin.headers).json() == []
    done = client.post(f"{CONTROL}/provision", data={"csrf_token": token, **fields}, follow_redirects=False)
    assert done.status_code == 303
    overview = client.get(done.headers["location"]).text
    assert "Writer was provisioned." in overview
    created = client.get("/v1/resources", headers=admin.headers).json()[0]
    assert created["models"] == ["anthropic.claude-haiku-4-5", "anthropic.claude-sonnet-4-5"]
    assert created["default_model"] == "anthropic.claude-sonnet-4-5"
    assert "Provisioned" in overview.split('aria-label="Cloud Token ledger"', 1)[1]


def test_a_refused_request_keeps_the_values_and_names_the_field(
    client: TestClient, control_plane: ControlPlane
) -> None:
    _admin(control_plane)
    token = _token(client, f"{CONTROL}/provision")
    fields = _form(
        type="text_generation",
        display_name="Writer",
        models=["anthropic.claude-haiku-4-5", "anthropic.claude-sonnet-4-5"],
        default_model="",
    )
    response = client.post(f"{CONTROL}/provision/review", data={"csrf_token": token, **fields})
    assert response.status_code == 422
    slot = response.text.split('data-error-for="default_model"', 1)[1].split("</p>", 1)[0]
    assert "The default model must be one of the selected models." in slot
    assert 'value="Writer"' in response.text
    assert 'value="anthropic.claude-sonnet-4-5" selected' in response.text
    assert 'value="dana@acme.example"' in response.text


def test_no_embeddings_resource_is_said_next_to_the_field(
    client: TestClient, control_plane: ControlPlane
) -> None:
    _admin(control_plane)
    page = client.get(f"{CONTROL}/provision?type=knowledge_base").text
    hint = page.split("data-no-embeddings", 1)[1].split("</p>", 1)[0]
    assert not hint.lstrip().startswith("hidden")
    assert "provision one first" in hint
    assert 'href="/portal/control/provision?type=embeddings"' in hint


@pytest.mark.parametrize("subscription", [{"accounts": 2}, {"enterprise_subscriptions": 0}])
def test_prerequisite_warning_is_verbatim_and_blocks_provisioning(
    client: TestClient, control_plane: ControlPlane, subscription: dict[str, int]
) -> None:
    _admin(control_plane, **subscription)
    page = client.get(CONTROL).text
    shown = PLATFORM_ACCOUNT_WARNING.replace("'", "&#39;")  # as Jinja escapes it; the text is verbatim
    assert f'<p class="warning" role="alert" id="prerequisite">{shown}</p>' in page
    assert "disabled" in page.split("Provision Resource</button>", 1)[0].rsplit("<button", 1)[1]
    form = client.get(f"{CONTROL}/provision").text
    assert shown in form
    token = csrf_of(form)
    refused = client.post(f"{CONTROL}/provision/review", data={"csrf_token": token, **_form()})
    assert refused.status_code == 403
    assert shown in refused.text


def test_an_old_price_list_shows_the_service_message(client: TestClient, control_plane: ControlPlane) -> None:
    _admin(control_plane, price_list_year=2019)
    page = client.get(CONTROL).text
    assert "FY21 price list or newer; yours is on FY19" in page
    assert "platform account" not in page


@pytest.mark.parametrize(
    ("fields", "slot", "message"),
    [
        ({"plan": "tokens", "cloud_tokens": "0"}, "size", "at least 1 Cloud Token"),
        ({"plan": "tokens", "cloud_tokens": "ten"}, "size", "whole number"),
        ({"created_for_name": ""}, "created_for_name", "Created for (name)"),
        ({"models": ["anthropic.claude-haiku-4-5"]}, "models", "is not a embeddings model"),
    ],
)
def test_each_refusal_sits_next_to_its_field(
    client: TestClient, control_plane: ControlPlane, fields: dict[str, Any], slot: str, message: str
) -> None:
    _admin(control_plane)
    token = _token(client, f"{CONTROL}/provision")
    response = client.post(f"{CONTROL}/provision/review", data={"csrf_token": token, **_form(**fields)})
    assert response.status_code == 422
    assert message in response.text.split(f'data-error-for="{slot}"', 1)[1].split("</p>", 1)[0]


def test_resources_in_the_overview_open_in_a_new_tab(client: TestClient, control_plane: ControlPlane) -> None:
    admin = _admin(control_plane, tokens=100)
    embeddings = control_plane.embeddings(admin, display_name="Vectors", cloud_tokens=6)
    page = client.get(CONTROL).text
    link = re.search(rf'<a href="/portal/resources/{embeddings["id"]}"[^>]*>', page)
    assert link is not None
    assert 'target="_blank"' in link.group(0) and 'rel="noopener"' in link.group(0)
