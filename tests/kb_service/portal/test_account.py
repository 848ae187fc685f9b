"""Company settings, "Your tokens", the password change and sign-in's `next`, through the test client.

The browser walk is test_browser_account.py; these pin the rules: what switching external
invitations off does to pending invitations (API and portal), who may, the tokens of an external
member reaching only what they were invited to, the password check going through the sign-in
throttle, and `next` accepting local portal pages only.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from kb_service.capacity.formatting import used_of_allocation
from kb_service.consumption.service import Series
from kb_service.portal.consumption import chart_data
from kb_service.portal.next_page import safe_next
from kb_service.services import unit_of_work
from schemas.consumption import DayUsage
from tests.factories.controlplane import ControlPlane, TestUser
from tests.kb_service.portal.conftest import PASSWORD, csrf_of, sign_in, with_password

NEW_PASSWORD = "another passphrase, long enough"
OUTSIDER = "olga@elsewhere.example"


def _post(client: TestClient, page_url: str, action: str, **data: str) -> Any:
    token = csrf_of(client.get(page_url).text)
    return client.post(action, data={"csrf_token": token, **data}, follow_redirects=False)


def _invited(cp: ControlPlane) -> tuple[TestUser, str, str]:
    """An admin with external invitations on, a resource and a pending invitation; (admin, resource
    id, the invitation's relative link)."""
    admin = with_password(cp, cp.admin())
    on = cp.client.patch("/v1/company", headers=admin.headers, json={"external_invitations_enabled": True})
    assert on.status_code == 200 and on.json()["external_invitations_enabled"] is True
    resource_id = cp.provision(admin, display_name="Assistant")["id"]
    invited = cp.client.post(
        f"/v1/resources/{resource_id}/invitations", headers=admin.headers, json={"email": OUTSIDER}
    )
    assert invited.status_code == 201, invited.text
    return admin, resource_id, invited.json()["accept_url"]


@pytest.mark.parametrize(
    ("raw", "accepted"),
    [
        ("/portal/tokens", True),
        ("/portal/resources/abc/consumption?range=W", True),
        ("/portal/control/settings", True),
        (None, False),
        ("", False),
        ("/portal", False),
        ("/portal/sign-in", False),
        ("/portal/sign-in?next=/portal/x", False),
        ("/portal/static/portal.css", False),
        ("/v1/me", False),
        ("https://evil.example/portal/x", False),
        ("//evil.example/portal/x", False),
        ("/\\evil.example", False),
        ("/portal/\\\\evil.example", False),
        ("/portal/../v1/me", False),
        ("/portal/x\r\nSet-Cookie: a=b", False),
        ("javascript:alert(1)", False),
        ("/portal/" + "a" * 3000, False),
    ],
)
def test_next_is_a_local_portal_page_only(raw: str | None, accepted: bool) -> None:
    assert safe_next(raw) == (raw if accepted else None)


def test_sign_in_returns_to_the_page_asked_for_and_never_elsewhere(
    client: TestClient, control_plane: ControlPlane
) -> None:
    admin = with_password(control_plane, control_plane.admin())
    asked = client.get("/portal/control/settings", follow_redirects=False)
    assert asked.status_code == 303
    assert asked.headers["location"] == "/portal/sign-in?next=%2Fportal%2Fcontrol%2Fsettings"
    form = client.get(asked.headers["location"])
    assert 'name="next" value="/portal/control/settings"' in form.text
    data = {"email": admin.email, "password": PASSWORD, "csrf_token": csrf_of(form.text)}
    wrong = client.post("/portal/sign-in", data={**data, "password": "nope", "next": "/portal/tokens"})
    assert wrong.status_code == 401
    assert 'name="next" value="/portal/tokens"' in wrong.text  # kept across a failed attempt
    back = client.post(
        "/portal/sign-in", data={**data, "next": "/portal/control/settings"}, follow_redirects=False
    )
    assert back.headers["location"] == "/portal/control/settings"
    client.cookies.clear()
    form = client.get("/portal/sign-in?next=https://evil.example/")
    assert 'name="next"' not in form.text
    data["csrf_token"] = csrf_of(form.text)
    elsewhere = client.post(
        "/portal/sign-in", data={**data, "next": "https://evil.example/"}, follow_redirects=False
    )
    assert elsewhere.headers["location"] == "/portal/resources"


def test_switching_external_invitations_off_withdraws_pending_invitations(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin, resource_id, link = _invited(cp)
    member = cp.user(admin.company_id, "sam@acme.example")
    refused = client.patch(
        "/v1/company", headers=member.headers, json={"external_invitations_enabled": False}
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"

    off = client.patch("/v1/company", headers=admin.headers, json={"external_invitations_enabled": False})
    assert off.status_code == 200
    assert off.json()["external_invitations_enabled"] is False
    assert client.get(f"/v1/resources/{resource_id}/invitations", headers=admin.headers).json() == []
    dead = client.get(link)
    assert dead.status_code == 404
    assert "withdrawn" in dead.text
    with unit_of_work(cp.container, cp.clock) as services:
        entries, _ = services.activity_repository.page(resource_id, offset=0, limit=50)
        withdrawn = [e.detail for e in entries if e.action == "invitation.withdrawn"]
    assert withdrawn == [{"email": OUTSIDER, "reason": "external invitations switched off"}]
    again = client.post(
        f"/v1/resources/{resource_id}/invitations", headers=admin.headers, json={"email": OUTSIDER}
    )
    assert again.status_code == 403  # off means off

    # On again: new invitations work; the withdrawn one stays withdrawn.
    on = client.patch("/v1/company", headers=admin.headers, json={"external_invitations_enabled": True})
    assert on.json()["external_invitations_enabled"] is True
    assert client.get(link).status_code == 404
    fresh = client.post(
        f"/v1/resources/{resource_id}/invitations", headers=admin.headers, json={"email": OUTSIDER}
    )
    assert fresh.status_code == 201


def test_company_settings_page_asks_before_withdrawing(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin, _, link = _invited(cp)
    sign_in(client, admin.email)
    settings = "/portal/control/settings"
    page = client.get(settings)
    assert page.status_code == 200
    assert OUTSIDER in page.text and "Switch external invitations off" in page.text
    asked = _post(client, settings, f"{settings}/external-invitations", enabled="off")
    assert asked.status_code == 200
    assert "1 pending invitation will be withdrawn" in asked.text
    assert client.get(link).status_code == 200  # nothing changed yet
    done = _post(client, settings, f"{settings}/external-invitations", enabled="off", confirmed="yes")
    assert done.status_code == 303
    after = client.get(done.headers["location"])
    assert "1 pending invitation was withdrawn" in after.text
    assert "Switch external invitations on" in after.text
    assert client.get(link).status_code == 404
    # Without invitations pending, switching off needs no confirmation.
    _post(client, settings, f"{settings}/external-invitations", enabled="on")
    quiet = _post(client, settings, f"{settings}/external-invitations", enabled="off")
    assert quiet.status_code == 303

    member = with_password(cp, cp.user(admin.company_id, "sam@acme.example"))
    client.cookies.clear()
    sign_in(client, member.email)
    assert client.get(settings).status_code == 403


def test_an_external_members_token_reaches_only_what_they_were_invited_to(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin, resource_id, _ = _invited(cp)
    other = cp.provision(admin, display_name="Internal only")["id"]
    outsider = with_password(cp, cp.user(cp.company("Elsewhere"), OUTSIDER))
    invitation_id = client.get("/v1/invitations", headers=outsider.headers).json()[0]["id"]
    accepted = client.post(f"/v1/invitations/{invitation_id}/accept", headers=outsider.headers)
    assert accepted.status_code == 200, accepted.text

    sign_in(client, outsider.email)
    created = _post(client, "/portal/tokens", "/portal/tokens", description="my CLI")
    assert created.status_code == 200
    secret = created.text.split('id="new-token-secret">', 1)[1].split("<", 1)[0]
    assert secret.startswith("pat_")
    assert secret not in client.get("/portal/tokens").text  # shown once
    headers = {"Authorization": f"Bearer {secret}"}
    listed = client.get("/v1/resources", headers=headers)
    assert [r["id"] for r in listed.json()] == [resource_id]
    assert client.get(f"/v1/resources/{other}", headers=headers).status_code == 404
    assert (
        client.patch("/v1/company", headers=headers, json={"external_invitations_enabled": False}).status_code
        == 403
    )

    token_id = secret.split("_")[1]
    revoked = _post(client, "/portal/tokens", f"/portal/tokens/{token_id}/revoke")
    assert revoked.status_code == 200
    assert client.get("/v1/me", headers=headers).status_code == 401
    # Someone else's token id is not found.
    assert _post(client, "/portal/tokens", "/portal/tokens/ffffffffffffffff/revoke").status_code == 404
    assert _post(client, "/portal/tokens", "/portal/tokens", description="").status_code == 422


def test_password_change_needs_the_current_password_and_is_throttled(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin = with_password(cp, cp.admin())
    sign_in(client, admin.email)
    tokens = "/portal/tokens"
    fields = {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    short = _post(
        client,
        tokens,
        "/portal/password",
        current_password=PASSWORD,
        new_password="short",
        confirm_password="short",
    )
    assert short.status_code == 422
    differ = _post(
        client,
        tokens,
        "/portal/password",
        current_password=PASSWORD,
        new_password=NEW_PASSWORD,
        confirm_password="x" * 20,
    )
    assert differ.status_code == 422
    limit = cp.container.settings.portal.sign_in_max_failures_per_email
    for _ in range(limit):
        assert (
            _post(client, tokens, "/portal/password", current_password="wrong guess", **fields).status_code
            == 403
        )
    throttled = _post(client, tokens, "/portal/password", current_password=PASSWORD, **fields)
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0

    cp.clock.advance(minutes=cp.container.settings.portal.sign_in_window_minutes + 1)
    sign_in(client, admin.email)
    other_browser = TestClient(client.app)
    sign_in(other_browser, admin.email)
    changed = _post(client, tokens, "/portal/password", current_password=PASSWORD, **fields)
    assert changed.status_code == 303
    assert "Your password was changed." in client.get(changed.headers["location"]).text  # still signed in
    assert other_browser.get(tokens, follow_redirects=False).status_code == 303  # signed out there
    client.cookies.clear()
    assert sign_in(client, admin.email).status_code == 401
    assert sign_in(client, admin.email, NEW_PASSWORD).status_code == 303


def test_small_usage_reads_meaningfully() -> None:
    assert used_of_allocation(0.4, 1000) == "0.4 / 1k"
    assert used_of_allocation(0.004, 1000) == "<0.01 / 1k"
    assert used_of_allocation(0, 1000) == "0 / 1k"
    assert used_of_allocation(1521.4, 1600) == "1,521 / 1.6k"


def test_bm_chart_data_covers_the_whole_bundle_month() -> None:
    start = date(2026, 11, 22)
    days = [
        DayUsage(date=start + timedelta(n), genai_units=0.5, input_tokens=5, output_tokens=0, api_calls=1)
        for n in range(11)
    ]
    series = Series(resource=None, start=start, end=days[-1].date, allocation_gu=600, days=days)  # type: ignore[arg-type]
    data = chart_data(series, until=date(2026, 12, 22))
    assert len(data["labels"]) == 30
    assert data["labels"][0] == "November 22, 2026" and data["labels"][-1] == "December 21, 2026"
    assert data["genai_units"][:11] == [0.5] * 11 and data["genai_units"][11:] == [None] * 19
    assert data["today"] == 10 and data["allocation"] == 600
    assert len(chart_data(series)["labels"]) == 11  # other ranges end today
