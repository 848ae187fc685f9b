"""The Team tab and invitation pages through the API client: members, invitation links shown once,
the acceptance page in each of its states, permissions (external members get no forms and are
refused anyway), CSRF and foreign resources."""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi.testclient import TestClient

from tests.factories.controlplane import ControlPlane, TestUser
from tests.kb_service.portal.conftest import PASSWORD, csrf_of, sign_in, with_password

NEW_PASSWORD = "a fresh passphrase for me"
_LINK = re.compile(r'id="invitation-link">([^<]+)<')


def _team(cp: ControlPlane, *, external: bool = True) -> tuple[TestUser, str]:
    admin = with_password(cp, cp.admin())
    if external:
        cp.client.patch("/v1/company", headers=admin.headers, json={"external_invitations_enabled": True})
    resource_id = cp.provision(admin, display_name="Assistant")["id"]
    # Dana Dev, whom it is created for, joined its team; these tests start from an empty team.
    members = f"/v1/resources/{resource_id}/members"
    for member in cp.client.get(members, headers=admin.headers).json():
        cp.client.delete(f"{members}/{member['user_id']}", headers=admin.headers)
    return admin, resource_id


def _post(client: TestClient, page_url: str, action: str, **data: str) -> Any:
    # TestClient's response (httpx or httpx2, depending on what Starlette found).
    token = csrf_of(client.get(page_url).text)
    return client.post(action, data={"csrf_token": token, **data}, follow_redirects=False)


def _invite(client: TestClient, resource_id: str, email: str) -> str:
    """The invitation link (relative) shown in the dialog."""
    team = f"/portal/resources/{resource_id}/team"
    response = _post(client, team, f"{team}/invitations", email=email)
    assert response.status_code == 201, response.text
    found = _LINK.search(response.text)
    assert found is not None
    link = html.unescape(found.group(1))
    assert link.startswith("http://testserver/portal/invitations/accept?token=")
    return link.removeprefix("http://testserver")


def test_team_tab_lists_members_and_offers_the_forms(client: TestClient, control_plane: ControlPlane) -> None:
    cp = control_plane
    admin, resource_id = _team(cp)
    cp.user(admin.company_id, "sam@acme.example")
    sign_in(client, admin.email)
    team = f"/portal/resources/{resource_id}/team"
    page = client.get(team)
    assert page.status_code == 200
    assert ">Team</a>" in page.text and 'aria-current="page">Team' in page.text
    assert 'aria-label="Members"' not in page.text  # nobody on the team yet
    assert "No team members yet." in page.text
    assert "No pending invitations." in page.text
    assert "Add member" in page.text and "Send invitation" in page.text

    added = _post(client, team, f"{team}/members", email="sam@acme.example")
    assert added.status_code == 303
    page = client.get(added.headers["location"])
    assert "Member added." in page.text
    members = page.text.split('aria-label="Members"')[1].split("</table>")[0]
    assert "sam@acme.example" in members and "Internal" in members
    assert "January 15, 2026" in members

    unknown = _post(client, team, f"{team}/members", email="nobody@acme.example")
    assert unknown.status_code == 404
    assert "No user nobody@acme.example in this company" in unknown.text
    assert 'value="nobody@acme.example"' in unknown.text
    bad = _post(client, team, f"{team}/members", email="not-an-email")
    assert bad.status_code == 422
    assert "not an email address" in bad.text


def test_an_invitation_link_is_shown_once_and_withdrawing_kills_it(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin, resource_id = _team(cp)
    sign_in(client, admin.email)
    team = f"/portal/resources/{resource_id}/team"
    response = _post(client, team, f"{team}/invitations", email="Guest@Elsewhere.example")
    text = response.text
    assert "data-open-on-load" in text
    assert (
        "Send this link to <strong>guest@elsewhere.example</strong>; "
        "it works once and expires on January 29, 2026" in text
    )
    assert 'data-copy="invitation-link"' in text and "Copy link" in text
    link = html.unescape(_LINK.search(text).group(1))  # type: ignore[union-attr]
    token = link.split("token=")[1]

    page = client.get(team).text
    assert token not in page  # shown once
    pending = page.split('aria-label="Pending invitations"')[1].split("</table>")[0]
    assert "guest@elsewhere.example" in pending and "January 29, 2026" in pending and ">Withdraw<" in pending

    duplicate = _post(client, team, f"{team}/invitations", email="guest@elsewhere.example")
    assert duplicate.status_code == 409
    assert "already has a pending invitation" in duplicate.text

    invitation_id = re.search(r"/team/invitations/([0-9a-f]+)/withdraw", page).group(1)  # type: ignore[union-attr]
    withdrawn = _post(client, team, f"{team}/invitations/{invitation_id}/withdraw")
    assert withdrawn.status_code == 303
    assert "its link no longer works" in client.get(withdrawn.headers["location"]).text
    client.cookies.clear()
    dead = client.get(link.removeprefix("http://testserver"))
    assert dead.status_code == 404
    assert "withdrawn" in dead.text


def test_disabled_external_invitations_admin_enables_them_members_are_told(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin, resource_id = _team(cp, external=False)
    sam = with_password(cp, cp.user(admin.company_id, "sam@acme.example"))
    cp.client.post(f"/v1/resources/{resource_id}/members", headers=admin.headers, json={"email": sam.email})
    team = f"/portal/resources/{resource_id}/team"

    sign_in(client, sam.email)
    page = client.get(team).text
    assert "External invitations are disabled for your company." in page
    assert "Ask a company admin to enable them." in page
    assert "Enable external invitations" not in page and "Send invitation" not in page
    assert _post(client, team, f"{team}/external-invitations").status_code == 403
    assert _post(client, team, f"{team}/invitations", email="x@y.example").status_code == 403

    client.cookies.clear()
    sign_in(client, admin.email)
    page = client.get(team).text
    assert "Enable external invitations" in page
    enabled = _post(client, team, f"{team}/external-invitations")
    assert enabled.status_code == 303
    page = client.get(enabled.headers["location"]).text
    assert "External invitations are now enabled" in page
    assert "Send invitation" in page
    assert cp.client.get("/v1/company", headers=admin.headers).json()["external_invitations_enabled"] is True


def test_an_invitee_creates_an_account_and_lands_on_the_resource(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin, resource_id = _team(cp)
    sign_in(client, admin.email)
    link = _invite(client, resource_id, "guest@elsewhere.example")
    client.cookies.clear()

    page = client.get(link)
    assert page.status_code == 200
    assert "Join Assistant" in page.text
    assert "admin (admin@acme.example)" in page.text
    assert "January 29, 2026" in page.text
    assert "Create your account" in page.text
    for label in ("Name", "Password", "Confirm password", "Create account and join"):
        assert f">{label}<" in page.text
    token = link.split("token=")[1]
    create = "/portal/invitations/accept/create-account"
    form = {"token": token, "name": "Gus Guest", "password": NEW_PASSWORD}

    # Without the page's CSRF token: refused.
    refused = client.post(create, data={**form, "confirm_password": NEW_PASSWORD}, follow_redirects=False)
    assert refused.status_code == 403
    mismatch = _post(client, link, create, **form, confirm_password="something else entirely")
    assert mismatch.status_code == 422
    assert "The passwords do not match." in mismatch.text
    assert 'value="Gus Guest"' in mismatch.text
    short = _post(client, link, create, token=token, name="Gus", password="short", confirm_password="short")
    assert short.status_code == 422
    assert "12 to" in short.text

    joined = _post(client, link, create, **form, confirm_password=NEW_PASSWORD)
    assert joined.status_code == 303
    assert joined.headers["location"] == f"/portal/resources/{resource_id}"
    team = client.get(f"/portal/resources/{resource_id}/team")
    assert team.status_code == 200
    assert "guest@elsewhere.example" in team.text  # signed in as the new user
    members = team.text.split('aria-label="Members"')[1].split("</table>")[0]
    assert "Gus Guest" in members and "External" in members
    assert "Send invitation" not in team.text and "Add member" not in team.text
    assert "/remove" not in team.text
    assert "Only internal team members and company admins manage this team." in team.text

    # The link is spent.
    client.cookies.clear()
    reused = client.get(link)
    assert reused.status_code == 404
    assert "already been accepted" in reused.text


def test_an_external_member_gets_no_forms_and_is_refused(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin, resource_id = _team(cp)
    outsider = with_password(cp, cp.admin("Globex"))
    colleague = cp.user(admin.company_id, "sam@acme.example")
    cp.client.post(
        f"/v1/resources/{resource_id}/members", headers=admin.headers, json={"email": colleague.email}
    )
    body = cp.client.post(
        f"/v1/resources/{resource_id}/invitations", headers=admin.headers, json={"email": outsider.email}
    ).json()
    cp.client.post(f"/v1/invitations/{body['id']}/accept", headers=outsider.headers)
    pending = cp.client.post(
        f"/v1/resources/{resource_id}/invitations", headers=admin.headers, json={"email": "p@q.example"}
    ).json()

    sign_in(client, outsider.email)
    team = f"/portal/resources/{resource_id}/team"
    page = client.get(team)
    assert page.status_code == 200
    assert "sam@acme.example" in page.text and "p@q.example" in page.text
    for control in ("Add member", "Send invitation", "Withdraw", "/remove", "Enable external invitations"):
        assert control not in page.text
    refusals = [
        _post(client, team, f"{team}/members", email="sam@acme.example"),
        _post(client, team, f"{team}/invitations", email="new@q.example"),
        _post(client, team, f"{team}/members/{colleague.id}/remove"),
        _post(client, team, f"{team}/invitations/{pending['id']}/withdraw"),
        _post(client, team, f"{team}/external-invitations"),
    ]
    assert [r.status_code for r in refusals] == [403] * 5
    members = cp.client.get(f"/v1/resources/{resource_id}/members", headers=admin.headers).json()
    assert {m["email"] for m in members} == {colleague.email, outsider.email}


def test_remove_a_member_and_csrf_and_foreign_resources(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin, resource_id = _team(cp)
    colleague = cp.user(admin.company_id, "sam@acme.example")
    cp.client.post(
        f"/v1/resources/{resource_id}/members", headers=admin.headers, json={"email": colleague.email}
    )
    other_admin = with_password(cp, cp.admin("Globex"))
    foreign = cp.provision(other_admin, display_name="Theirs")["id"]
    sign_in(client, admin.email)
    team = f"/portal/resources/{resource_id}/team"
    page = client.get(team).text
    assert 'data-confirm="Remove sam@acme.example from Assistant?"' in page

    no_csrf = client.post(f"{team}/members/{colleague.id}/remove", follow_redirects=False)
    assert no_csrf.status_code == 403
    removed = _post(client, team, f"{team}/members/{colleague.id}/remove")
    assert removed.status_code == 303
    assert "Member removed." in client.get(removed.headers["location"]).text
    assert cp.client.get(f"/v1/resources/{resource_id}/members", headers=admin.headers).json() == []

    other = f"/portal/resources/{foreign}/team"
    assert client.get(other).status_code == 404
    assert _post(client, team, f"{other}/invitations", email="x@y.example").status_code == 404
    assert _post(client, team, f"{other}/members", email="x@globex.example").status_code == 404


def test_acceptance_page_for_bad_and_expired_links(client: TestClient, control_plane: ControlPlane) -> None:
    cp = control_plane
    admin, resource_id = _team(cp)
    for url in ("/portal/invitations/accept", "/portal/invitations/accept?token=nonsense"):
        page = client.get(url)
        assert page.status_code == 404
        assert "Invitation not found" in page.text
    sign_in(client, admin.email)
    link = _invite(client, resource_id, "late@elsewhere.example")
    client.cookies.clear()
    cp.clock.advance(days=14, minutes=1)
    expired = client.get(link)
    assert expired.status_code == 410
    assert "This invitation has expired" in expired.text
    assert "ask for a new one" in expired.text


def test_an_existing_account_signs_in_and_accepts_in_one_post(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin, resource_id = _team(cp)
    outsider = with_password(cp, cp.admin("Globex"))
    sign_in(client, admin.email)
    link = _invite(client, resource_id, outsider.email)
    token = link.split("token=")[1]

    # Signed in as someone else: told so, no form.
    other = client.get(link)
    assert "but you are signed in as admin@acme.example" in other.text
    assert "Create account and join" not in other.text and "Sign in and join" not in other.text

    client.cookies.clear()
    page = client.get(link)
    assert "Sign in to accept" in page.text and "Create your account" not in page.text
    action = "/portal/invitations/accept/sign-in"
    wrong = _post(client, link, action, token=token, password="not the password at all")
    assert wrong.status_code == 401
    assert "Incorrect email or password." in wrong.text
    joined = _post(client, link, action, token=token, password=PASSWORD)
    assert joined.status_code == 303
    assert joined.headers["location"] == f"/portal/resources/{resource_id}"
    assert client.get(f"/portal/resources/{resource_id}/team").status_code == 200
    members = cp.client.get(f"/v1/resources/{resource_id}/members", headers=admin.headers).json()
    assert [(m["email"], m["external"]) for m in members] == [(outsider.email, True)]


def test_signing_in_on_the_invitation_page_is_throttled_like_the_sign_in_page(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin, resource_id = _team(cp)
    outsider = with_password(cp, cp.admin("Globex"))
    sign_in(client, admin.email)
    link = _invite(client, resource_id, outsider.email)
    token = link.split("token=")[1]
    client.cookies.clear()
    action = "/portal/invitations/accept/sign-in"
    for _ in range(5):
        assert _post(client, link, action, token=token, password="not the password at all").status_code == 401
    refused = _post(client, link, action, token=token, password=PASSWORD)
    assert refused.status_code == 429
    assert "Too many sign-in attempts. Try again in 15 minutes." in refused.text
    # The failures count on the sign-in page too: one limit per account, wherever the form is.
    assert sign_in(client, outsider.email).status_code == 429


def test_signed_in_invitee_answers_on_the_link_and_on_the_invitations_page(
    client: TestClient, control_plane: ControlPlane
) -> None:
    cp = control_plane
    admin, resource_id = _team(cp)
    second = cp.provision(admin, display_name="Second one")["id"]
    outsider = with_password(cp, cp.admin("Globex"))
    sign_in(client, admin.email)
    link = _invite(client, resource_id, outsider.email)
    _invite(client, second, outsider.email)
    client.cookies.clear()
    sign_in(client, outsider.email)

    page = client.get(link)
    assert ">Accept<" in page.text and ">Decline<" in page.text
    declined = _post(
        client, link, "/portal/invitations/accept/answer", token=link.split("token=")[1], answer="decline"
    )
    assert declined.status_code == 303
    mine = client.get(declined.headers["location"])
    assert "Invitation declined." in mine.text
    table = mine.text.split('aria-label="Your invitations"')[1].split("</table>")[0]
    assert "Second one" in table and "Assistant" not in table and "admin (admin@acme.example)" in table
    invitation_id = re.search(r"/portal/invitations/([0-9a-f]+)/respond", table).group(1)  # type: ignore[union-attr]
    accepted = _post(
        client, "/portal/invitations", f"/portal/invitations/{invitation_id}/respond", answer="accept"
    )
    assert accepted.status_code == 303
    assert accepted.headers["location"] == f"/portal/resources/{second}"
    assert "No pending invitations." in client.get("/portal/invitations").text
    assert client.get(f"/portal/resources/{resource_id}/team").status_code == 404
    assert client.get(f"/portal/resources/{second}/team").status_code == 200
    assert client.get("/portal/invitations/x/respond").status_code == 405
