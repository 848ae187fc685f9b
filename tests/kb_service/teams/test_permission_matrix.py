"""The permission matrix (docs/permissions.md), route by route, for every role.

Members see the resource, manage keys, invite; external members may manage keys, export
consumption and change the model, but not rename, change the environment or manage the team;
only company admins enable models, change capacity and (cancel) deprovisioning. Anyone else does
not see the resource (404). Visible but not permitted is a 403, always with the `forbidden` code. An
API key is no credential for the control plane (401).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from kb_service.services import unit_of_work
from tests.factories.controlplane import ControlPlane, TestUser

EVERYONE = {"admin", "member", "external"}
INTERNAL = {"admin", "member"}
ADMIN = {"admin"}
ROLES = ["admin", "member", "external", "colleague", "outsider", "kb_key"]
HAIKU, SONNET = "anthropic.claude-haiku-4-5", "anthropic.claude-sonnet-4-5"

# (method, path under the resource, JSON body, roles allowed). Order matters: what removes or ends
# something comes after what reads it, deprovisioning last.
ROUTES: list[tuple[str, str, dict[str, Any] | None, set[str]]] = [
    ("GET", "", None, EVERYONE),
    ("GET", "/settings", None, EVERYONE),
    ("GET", "/members", None, EVERYONE),
    ("GET", "/invitations", None, EVERYONE),
    ("GET", "/activity", None, EVERYONE),
    ("GET", "/keys", None, EVERYONE),
    ("POST", "/keys", {"description": "k"}, EVERYONE),
    ("DELETE", "/keys/{key_id}", None, EVERYONE),
    ("GET", "/consumption", None, EVERYONE),
    ("GET", "/consumption/daily?range=W", None, EVERYONE),
    ("GET", "/consumption/export.csv", None, EVERYONE),
    ("PATCH", "", {"default_model": SONNET}, EVERYONE),
    ("PATCH", "", {"display_name": "Renamed"}, INTERNAL),
    ("PATCH", "", {"environment": "Production"}, INTERNAL),
    ("POST", "/members", {"email": "new@acme.example"}, INTERNAL),
    ("DELETE", "/members/{removable_id}", None, INTERNAL),
    ("POST", "/invitations", {"email": "guest@initech.example"}, INTERNAL),
    ("DELETE", "/invitations/{invitation_id}", None, INTERNAL),
    ("PUT", "/models", {"models": [HAIKU, SONNET]}, ADMIN),
    ("PUT", "/capacity", {"plan": "M"}, ADMIN),
    ("DELETE", "/capacity/scheduled", None, ADMIN),
    ("POST", "/deprovision", None, ADMIN),
    ("DELETE", "/deprovision", None, ADMIN),
]

# Company-level routes: (method, path, JSON body, roles allowed). The company is the resource's
# (Acme): its admin and users see it; an external member's own company answers for them.
COMPANY_ROUTES: list[tuple[str, str, dict[str, Any] | str | None, set[str]]] = [
    ("GET", "/v1/company", None, {"admin", "member", "colleague", "external", "outsider"}),
    ("GET", "/v1/company/cloud-tokens", None, {"admin", "outsider"}),
    ("PATCH", "/v1/company", {"external_invitations_enabled": True}, {"admin", "outsider"}),
    ("GET", "/v1/resources", None, {"admin", "member", "colleague", "external", "outsider"}),
    ("POST", "/v1/resources/preview", "provision", {"admin", "outsider"}),
    ("GET", "/v1/invitations", None, {"admin", "member", "colleague", "external", "outsider"}),
]


@dataclass(frozen=True)
class Team:
    resource_id: str
    users: dict[str, TestUser]
    ids: dict[str, str]
    kb_key: str


def _team(cp: ControlPlane) -> Team:
    admin = cp.admin(tokens=500)
    cp.client.patch("/v1/company", headers=admin.headers, json={"external_invitations_enabled": True})
    resource_id = cp.provision(admin, models=[HAIKU, SONNET], default_model=HAIKU)["id"]
    base = f"/v1/resources/{resource_id}"
    member = cp.user(admin.company_id, "member@acme.example")
    cp.user(admin.company_id, "new@acme.example")
    removable = cp.user(admin.company_id, "removable@acme.example")
    colleague = cp.user(admin.company_id, "colleague@acme.example")
    for user in (member, removable):
        cp.client.post(f"{base}/members", headers=admin.headers, json={"email": user.email})
    outsider = cp.admin("Globex")
    external = cp.user(outsider.company_id, "guest@globex.example")
    invitation = cp.client.post(f"{base}/invitations", headers=admin.headers, json={"email": external.email})
    cp.client.post(f"/v1/invitations/{invitation.json()['id']}/accept", headers=external.headers)
    pending = cp.client.post(
        f"{base}/invitations", headers=admin.headers, json={"email": "later@initech.example"}
    )
    key = cp.client.post(f"{base}/keys", headers=admin.headers, json={"description": "to revoke"})
    embeddings = cp.embeddings(admin)
    kb = cp.knowledge_base(admin, embeddings["id"])
    with unit_of_work(cp.container, cp.clock) as services:
        kb_key = services.keys.create(kb["id"], "app").secret
    users = {
        "admin": admin,
        "member": member,
        "external": external,
        "colleague": colleague,
        "outsider": outsider,
    }
    ids = {
        "key_id": key.json()["key_id"],
        "removable_id": removable.id,
        "invitation_id": pending.json()["id"],
    }
    return Team(resource_id, users, ids, kb_key)


def _headers(team: Team, role: str) -> dict[str, str]:
    if role == "kb_key":
        return {"Authorization": f"Bearer {team.kb_key}"}
    return team.users[role].headers


@pytest.mark.parametrize("role", ROLES)
def test_every_resource_route_enforces_the_matrix(control_plane: ControlPlane, role: str) -> None:
    cp = control_plane
    team = _team(cp)
    headers = _headers(team, role)
    for method, path, body, allowed in ROUTES:
        url = f"/v1/resources/{team.resource_id}{path.format(**team.ids)}"
        response = cp.client.request(method, url, headers=headers, json=body)
        where = (role, method, path, body, response.text)
        if role == "kb_key":
            assert response.status_code == 401, where
        elif role in ("colleague", "outsider"):
            assert response.status_code == 404, where
            assert response.json()["error"]["code"] == "not_found", where
        elif role in allowed:
            assert response.status_code not in (401, 403, 404), where
            assert response.status_code < 500, where
        else:
            assert response.status_code == 403, where
            error = response.json()["error"]
            assert error["code"] == "forbidden", where
            assert error["details"]["role"] == {"member": "member", "external": "external_member"}[role]


def test_every_company_route_enforces_the_matrix(control_plane: ControlPlane) -> None:
    """One team for every role: these routes change nothing the next call depends on."""
    cp = control_plane
    team = _team(cp)
    for role, (method, path, body, allowed) in ((r, route) for r in ROLES for route in COMPANY_ROUTES):
        headers = _headers(team, role)
        payload: Any = body
        if isinstance(body, str):  # "provision": a request for the caller's own company
            payload = {
                "type": "text_generation",
                "display_name": "X",
                "environment": "Test",
                "region": "eu-central-1",
                "models": [HAIKU],
                "plan": "S",
                "created_for": {"name": "Me", "email": team.users.get(role, team.users["admin"]).email},
            }
        response = cp.client.request(method, path, headers=headers, json=payload)
        where = (role, method, path, response.text)
        if role == "kb_key":
            assert response.status_code == 401, where
        elif role in allowed:
            assert response.status_code < 300, where
        else:
            assert response.status_code == 403, where
            assert response.json()["error"]["code"] == "forbidden", where


def test_a_non_invitee_cannot_see_an_invitation(control_plane: ControlPlane) -> None:
    cp = control_plane
    team = _team(cp)
    invitation_id = team.ids["invitation_id"]  # for later@initech.example
    for role in ("member", "external", "colleague", "outsider"):
        for action in ("accept", "decline"):
            response = cp.client.post(
                f"/v1/invitations/{invitation_id}/{action}", headers=_headers(team, role)
            )
            assert response.status_code == 404, (role, action)


def test_only_admins_provision_and_change_company_settings(control_plane: ControlPlane) -> None:
    cp = control_plane
    users = _team(cp).users
    for role in ("member", "external", "colleague"):
        assert cp.provision(users[role], expect=403)["error"]["code"] == "forbidden"
        patch = cp.client.patch(
            "/v1/company", headers=users[role].headers, json={"external_invitations_enabled": False}
        )
        assert patch.status_code == 403
