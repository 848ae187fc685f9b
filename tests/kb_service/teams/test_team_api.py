"""Teams: internal members, external invitations (only when enabled) with accept / decline /
withdraw and expiry after 14 days, all in the activity log."""

from __future__ import annotations

from typing import Any

from tests.factories.controlplane import ControlPlane, TestUser

DANA = "dana@acme.example"


def _setup(cp: ControlPlane, *, external: bool = True) -> tuple[TestUser, TestUser, str]:
    admin = cp.admin()
    outsider = cp.admin("Globex")
    if external:
        cp.client.patch("/v1/company", headers=admin.headers, json={"external_invitations_enabled": True})
    text = cp.provision(admin)  # for Dana Dev of Acme, who joins its team
    return admin, outsider, text["id"]


def _after_provisioning(log: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The activity after provisioning (which logs the resource and Dana joining), oldest first."""
    return [
        e for e in reversed(log) if e["action"] != "resource.provisioned" and e["detail"].get("email") != DANA
    ]


def test_members_are_added_and_removed(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin, outsider, resource_id = _setup(cp)
    colleague = cp.user(admin.company_id, "sam@acme.example")
    url = f"/v1/resources/{resource_id}/members"
    assert cp.client.get(f"/v1/resources/{resource_id}", headers=colleague.headers).status_code == 404
    added = cp.client.post(url, headers=admin.headers, json={"email": "sam@acme.example"})
    assert added.status_code == 201
    assert sorted((m["email"], m["external"]) for m in added.json()) == [
        (DANA, False),
        ("sam@acme.example", False),
    ]
    assert cp.client.get(f"/v1/resources/{resource_id}", headers=colleague.headers).status_code == 200
    assert cp.client.post(url, headers=admin.headers, json={"email": "sam@acme.example"}).status_code == 409
    assert cp.client.post(url, headers=admin.headers, json={"email": outsider.email}).status_code == 404
    removed = cp.client.delete(f"{url}/{colleague.id}", headers=admin.headers)
    assert removed.status_code == 204
    assert cp.client.get(f"/v1/resources/{resource_id}", headers=colleague.headers).status_code == 404
    log = cp.client.get(f"/v1/resources/{resource_id}/activity", headers=admin.headers).json()["items"]
    assert [(e["action"], e["detail"]) for e in _after_provisioning(log)] == [
        ("member.added", {"email": "sam@acme.example"}),
        ("member.removed", {"email": "sam@acme.example"}),
    ]


def test_the_user_a_resource_is_created_for_joins_its_team(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    dana = cp.user(admin.company_id, "dana@acme.example")
    text = cp.provision(admin)
    listed = cp.client.get("/v1/resources", headers=dana.headers).json()
    assert [r["id"] for r in listed] == [text["id"]]


def test_external_invitations_need_the_company_setting(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin, outsider, resource_id = _setup(cp, external=False)
    response = cp.client.post(
        f"/v1/resources/{resource_id}/invitations", headers=admin.headers, json={"email": outsider.email}
    )
    assert response.status_code == 403
    assert "not enabled" in response.json()["error"]["message"]


def test_an_invitation_is_accepted_and_the_invitee_becomes_an_external_member(
    control_plane: ControlPlane,
) -> None:
    cp = control_plane
    admin, outsider, resource_id = _setup(cp)
    url = f"/v1/resources/{resource_id}/invitations"
    invitation = cp.client.post(url, headers=admin.headers, json={"email": outsider.email}).json()
    assert invitation["status"] == "pending"
    assert cp.client.post(url, headers=admin.headers, json={"email": outsider.email}).status_code == 409
    same_company = cp.client.post(url, headers=admin.headers, json={"email": "x@acme.example"})
    assert same_company.status_code == 201  # not a user yet: may be anyone
    assert [i["email"] for i in cp.client.get(url, headers=admin.headers).json()] == [
        outsider.email,
        "x@acme.example",
    ]
    mine = cp.client.get("/v1/invitations", headers=outsider.headers).json()
    assert [i["id"] for i in mine] == [invitation["id"]]
    # Someone else cannot answer it.
    assert (
        cp.client.post(f"/v1/invitations/{invitation['id']}/accept", headers=admin.headers).status_code == 404
    )
    accepted = cp.client.post(f"/v1/invitations/{invitation['id']}/accept", headers=outsider.headers)
    assert accepted.json()["status"] == "accepted"
    members = cp.client.get(f"/v1/resources/{resource_id}/members", headers=outsider.headers).json()
    assert sorted((m["email"], m["external"]) for m in members) == [(outsider.email, True), (DANA, False)]
    again = cp.client.post(f"/v1/invitations/{invitation['id']}/decline", headers=outsider.headers)
    assert again.status_code == 409


def test_invitations_are_declined_withdrawn_and_expire_after_two_weeks(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin, outsider, resource_id = _setup(cp)
    url = f"/v1/resources/{resource_id}/invitations"
    first = cp.client.post(url, headers=admin.headers, json={"email": outsider.email}).json()
    declined = cp.client.post(f"/v1/invitations/{first['id']}/decline", headers=outsider.headers)
    assert declined.json()["status"] == "declined"
    second = cp.client.post(url, headers=admin.headers, json={"email": outsider.email}).json()
    withdrawn = cp.client.delete(f"{url}/{second['id']}", headers=admin.headers)
    assert withdrawn.json()["status"] == "withdrawn"
    assert (
        cp.client.post(f"/v1/invitations/{second['id']}/accept", headers=outsider.headers).status_code == 409
    )

    third = cp.client.post(url, headers=admin.headers, json={"email": outsider.email}).json()
    cp.clock.advance(days=14, seconds=-1)
    assert [i["id"] for i in cp.client.get("/v1/invitations", headers=outsider.headers).json()] == [
        third["id"]
    ]
    cp.clock.advance(seconds=1)
    assert cp.client.get(url, headers=admin.headers).json() == []
    expired = cp.client.post(f"/v1/invitations/{third['id']}/accept", headers=outsider.headers)
    assert (expired.status_code, expired.json()["error"]["code"]) == (409, "invitation_expired")

    fourth = cp.client.post(url, headers=admin.headers, json={"email": outsider.email}).json()
    cp.clock.advance(days=15)
    assert cp.apply_scheduled().invitations_expired == 1
    assert (
        cp.client.post(f"/v1/invitations/{fourth['id']}/accept", headers=outsider.headers).status_code == 409
    )
    members = cp.client.get(f"/v1/resources/{resource_id}/members", headers=admin.headers).json()
    assert [m["email"] for m in members] == [DANA]

    log = cp.client.get(f"/v1/resources/{resource_id}/activity", headers=admin.headers).json()["items"]
    assert [e["action"] for e in _after_provisioning(log)][:4] == [
        "invitation.sent",
        "invitation.declined",
        "invitation.sent",
        "invitation.withdrawn",
    ]
