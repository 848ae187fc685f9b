"""A resource created for someone outside the company (issue 13): they are sent an external
invitation — in the team's pending invitations and the activity log, its link in the provisioning
response — or, with external invitations off, the request is refused (422) before anything exists."""

from __future__ import annotations

from tests.factories.controlplane import ControlPlane, request_body


def _enable_external_invitations(cp: ControlPlane, headers: dict[str, str]) -> None:
    response = cp.client.patch("/v1/company", headers=headers, json={"external_invitations_enabled": True})
    assert response.status_code == 200, response.text


def test_someone_outside_the_company_is_invited(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    _enable_external_invitations(cp, admin.headers)
    outsider = cp.user(cp.admin("Globex").company_id, "guest@globex.example")

    made = cp.provision(admin, created_for={"name": "Guest", "email": outsider.email})

    invitation = made["invitation"]
    assert invitation["email"] == outsider.email
    assert invitation["accept_url"].startswith("/portal/invitations/accept?token=")
    base = f"/v1/resources/{made['id']}"
    pending = cp.client.get(f"{base}/invitations", headers=admin.headers).json()
    assert [(i["id"], i["email"]) for i in pending] == [(invitation["id"], outsider.email)]
    activity = cp.client.get(f"{base}/activity", headers=admin.headers).json()["items"]
    assert ("invitation.sent", outsider.email) in [(e["action"], e["detail"].get("email")) for e in activity]
    # The invitee sees it among their invitations, accepts, and reaches the resource as external.
    mine = cp.client.get("/v1/invitations", headers=outsider.headers).json()
    assert [i["id"] for i in mine] == [invitation["id"]]
    accepted = cp.client.post(f"/v1/invitations/{invitation['id']}/accept", headers=outsider.headers)
    assert accepted.status_code == 200, accepted.text
    assert cp.client.get(base, headers=outsider.headers).status_code == 200


def test_an_email_without_an_account_is_invited_too(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    _enable_external_invitations(cp, admin.headers)
    made = cp.provision(admin, created_for={"name": "New Person", "email": "new.person@example.org"})
    assert made["invitation"]["email"] == "new.person@example.org"


def test_with_external_invitations_off_it_is_a_422_before_anything_is_created(
    control_plane: ControlPlane,
) -> None:
    cp = control_plane
    admin = cp.admin(tokens=100)
    created_for = {"name": "Guest", "email": "guest@globex.example"}
    for path in ("/v1/resources/preview", "/v1/resources"):
        response = cp.client.post(path, headers=admin.headers, json=request_body(created_for=created_for))
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["details"]["field"] == "created_for.email"
        assert "guest@globex.example is not a user of Acme" in error["message"]
        assert "external invitations are off" in error["message"]
    assert cp.client.get("/v1/resources", headers=admin.headers).json() == []
    assert cp.client.get("/v1/company", headers=admin.headers).json()["cloud_tokens"]["available"] == 100


def test_a_company_user_joins_the_team_and_gets_no_invitation(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    made = cp.provision(admin)  # for Dana Dev, a user of Acme
    assert made["invitation"] is None
    base = f"/v1/resources/{made['id']}"
    members = cp.client.get(f"{base}/members", headers=admin.headers).json()
    assert [m["email"] for m in members] == ["dana@acme.example"]
    assert cp.client.get(f"{base}/invitations", headers=admin.headers).json() == []
