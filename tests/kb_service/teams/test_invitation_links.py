"""Invitation links: a secret issued once with the invitation (only its SHA-256 stored), accepted through
the API or by creating an account; expired, used and withdrawn links are refused."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from kb_service.db import session_scope
from kb_service.errors import Conflict, Forbidden, InvalidInput, NotFound
from kb_service.services import Services
from kb_service.teams.models import Invitation, TeamMember
from kb_service.teams.service import InvitationExpired
from kb_service.users.passwords import verify_password
from tests.factories.controlplane import ControlPlane, TestUser

PASSWORD = "a long enough passphrase"


def _setup(cp: ControlPlane) -> tuple[TestUser, TestUser, str]:
    admin = cp.admin()
    outsider = cp.admin("Globex")
    cp.client.patch("/v1/company", headers=admin.headers, json={"external_invitations_enabled": True})
    return admin, outsider, cp.provision(admin)["id"]


def _invite(cp: ControlPlane, admin: TestUser, resource_id: str, email: str) -> tuple[dict[str, str], str]:
    response = cp.client.post(
        f"/v1/resources/{resource_id}/invitations", headers=admin.headers, json={"email": email}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    url = urlsplit(body["accept_url"])
    assert url.path == "/portal/invitations/accept"
    return body, parse_qs(url.query)["token"][0]


def test_the_link_is_returned_once_and_only_its_hash_is_stored(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin, outsider, resource_id = _setup(cp)
    invitation, token = _invite(cp, admin, resource_id, outsider.email)
    assert len(token) >= 40
    listed = cp.client.get(f"/v1/resources/{resource_id}/invitations", headers=admin.headers).json()
    assert [i["id"] for i in listed] == [invitation["id"]]
    assert "accept_url" not in listed[0]
    assert token not in str(listed)
    with session_scope(cp.container.sessions) as session:
        stored = session.get(Invitation, invitation["id"])
        assert stored is not None
        assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    # Two invitations, two different links.
    _, other = _invite(cp, admin, resource_id, "someone@elsewhere.example")
    assert other != token


def test_accept_through_the_link_and_the_link_works_once(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin, outsider, resource_id = _setup(cp)
    _, token = _invite(cp, admin, resource_id, outsider.email)
    # Only the invited email's user may use it.
    wrong = cp.client.post("/v1/invitations/accept", headers=admin.headers, json={"token": token})
    assert wrong.status_code == 403
    assert "signed in as" in wrong.json()["error"]["message"]
    accepted = cp.client.post("/v1/invitations/accept", headers=outsider.headers, json={"token": token})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    members = cp.client.get(f"/v1/resources/{resource_id}/members", headers=outsider.headers).json()
    assert [(m["email"], m["external"]) for m in members if m["external"]] == [(outsider.email, True)]
    reused = cp.client.post("/v1/invitations/accept", headers=outsider.headers, json={"token": token})
    assert reused.status_code == 404
    assert "already been accepted" in reused.json()["error"]["message"]
    unknown = cp.client.post("/v1/invitations/accept", headers=outsider.headers, json={"token": "x" + token})
    assert unknown.status_code == 404


def test_an_expired_or_withdrawn_link_is_refused(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin, outsider, resource_id = _setup(cp)
    invitation, token = _invite(cp, admin, resource_id, outsider.email)
    url = f"/v1/resources/{resource_id}/invitations"
    assert cp.client.delete(f"{url}/{invitation['id']}", headers=admin.headers).status_code == 200
    withdrawn = cp.client.post("/v1/invitations/accept", headers=outsider.headers, json={"token": token})
    assert withdrawn.status_code == 404
    assert "withdrawn" in withdrawn.json()["error"]["message"]

    _, token = _invite(cp, admin, resource_id, outsider.email)
    cp.clock.advance(days=14)
    expired = cp.client.post("/v1/invitations/accept", headers=outsider.headers, json={"token": token})
    assert (expired.status_code, expired.json()["error"]["code"]) == (409, "invitation_expired")
    members = cp.client.get(f"/v1/resources/{resource_id}/members", headers=admin.headers).json()
    assert [m["email"] for m in members] == ["dana@acme.example"]  # whom it was created for, no one else


def test_a_new_account_joins_in_a_company_of_its_own(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin, _, resource_id = _setup(cp)
    _, token = _invite(cp, admin, resource_id, "New.Person@Elsewhere.example")
    with session_scope(cp.container.sessions) as session:
        teams = Services(session, cp.container, cp.clock).teams
        actor, invitation = teams.join_with_new_account(token, "  New Person ", PASSWORD)
        assert invitation.status == "accepted"
        assert actor.email == "new.person@elsewhere.example"
        assert not actor.is_admin
        assert actor.company_id != admin.company_id
        user = Services(session, cp.container, cp.clock).users.get(actor.user_id)
        assert user.name == "New Person"
        assert verify_password(user.password_hash, PASSWORD)
        companies = Services(session, cp.container, cp.clock).companies
        company = companies.get(actor.company_id)
        assert company.name == "new.person@elsewhere.example"
        assert (company.enterprise_subscriptions, company.accounts) == (0, 0)
        assert companies.balance(company.id).total == 0
        member = session.scalars(select(TeamMember).where(TeamMember.user_id == actor.user_id)).one()
        assert (member.resource_id, member.external) == (resource_id, True)
        # The link is spent.
        with pytest.raises(NotFound):
            teams.join_with_new_account(token, "Again", PASSWORD)


def test_a_new_account_is_refused_before_anything_is_created(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin, outsider, resource_id = _setup(cp)
    _, token = _invite(cp, admin, resource_id, "fresh@elsewhere.example")
    _, existing = _invite(cp, admin, resource_id, outsider.email)
    with session_scope(cp.container.sessions) as session:
        teams = Services(session, cp.container, cp.clock).teams
        with pytest.raises(InvalidInput, match="12"):
            teams.join_with_new_account(token, "Fresh", "short")
        with pytest.raises(InvalidInput, match="name"):
            teams.join_with_new_account(token, "   ", PASSWORD)
        with pytest.raises(Conflict, match="already exists"):
            teams.join_with_new_account(existing, "Someone", PASSWORD)
        assert Services(session, cp.container, cp.clock).users.by_email("fresh@elsewhere.example") is None
        assert teams.by_link(token).status == "pending"
        cp.clock.advance(days=15)
        with pytest.raises(InvitationExpired):
            teams.join_with_new_account(token, "Fresh", PASSWORD)


def test_a_company_named_like_the_email_already_exists(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin, _, resource_id = _setup(cp)
    cp.company("kim@elsewhere.example")
    _, token = _invite(cp, admin, resource_id, "kim@elsewhere.example")
    with session_scope(cp.container.sessions) as session:
        actor, _ = Services(session, cp.container, cp.clock).teams.join_with_new_account(
            token, "Kim", PASSWORD
        )
        assert (
            Services(session, cp.container, cp.clock).companies.get(actor.company_id).name
            == "kim@elsewhere.example (2)"
        )


def test_overview_and_enabling_external_invitations(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    colleague = cp.user(admin.company_id, "sam@acme.example")
    resource_id = cp.provision(admin)["id"]
    cp.client.post(
        f"/v1/resources/{resource_id}/members", headers=admin.headers, json={"email": colleague.email}
    )
    with session_scope(cp.container.sessions) as session:
        teams = Services(session, cp.container, cp.clock).teams
        admin_actor = Services(session, cp.container, cp.clock).users.authenticate(admin.token)
        sam = Services(session, cp.container, cp.clock).users.authenticate(colleague.token)
        overview = teams.overview(sam, resource_id)
        assert (overview.external_invitations_enabled, overview.company_admin) == (False, False)
        with pytest.raises(Forbidden):
            teams.enable_external_invitations(sam, resource_id)
        assert teams.overview(admin_actor, resource_id).company_admin
        teams.enable_external_invitations(admin_actor, resource_id)
        issued = teams.invite(sam, resource_id, "ext@elsewhere.example")
        views = teams.overview(sam, resource_id).pending
        assert [(v.invitation.id, v.invited_by, v.has_account) for v in views] == [
            (issued.invitation.id, f"sam ({colleague.email})", False)
        ]
