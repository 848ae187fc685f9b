"""The permission matrix of PRODUCT.md, route by route, for every role.

Members see the resource, manage keys, invite; external members may manage keys, export
consumption and change the model, but not rename, change the environment or manage the team;
only company admins change capacity and deprovision. Anyone else does not see the resource (404).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories.controlplane import ControlPlane, TestUser

EVERYONE = {"admin", "member", "external"}
INTERNAL = {"admin", "member"}
ADMIN = {"admin"}

# (method, path under the resource, JSON body, roles allowed). Order matters: deprovision last.
ROUTES: list[tuple[str, str, dict[str, Any] | None, set[str]]] = [
    ("GET", "", None, EVERYONE),
    ("GET", "/settings", None, EVERYONE),
    ("GET", "/members", None, EVERYONE),
    ("GET", "/invitations", None, EVERYONE),
    ("GET", "/activity", None, EVERYONE),
    ("GET", "/keys", None, EVERYONE),
    ("POST", "/keys", {"description": "k"}, EVERYONE),
    ("GET", "/consumption", None, EVERYONE),
    ("GET", "/consumption/daily?range=W", None, EVERYONE),
    ("GET", "/consumption/export.csv", None, EVERYONE),
    ("PATCH", "", {"default_model": "anthropic.claude-sonnet-4-5"}, EVERYONE),
    ("PATCH", "", {"display_name": "Renamed"}, INTERNAL),
    ("PATCH", "", {"environment": "Production"}, INTERNAL),
    ("POST", "/members", {"email": "new@acme.example"}, INTERNAL),
    ("POST", "/invitations", {"email": "guest@initech.example"}, INTERNAL),
    ("PUT", "/capacity", {"plan": "M"}, ADMIN),
    ("DELETE", "/capacity/scheduled", None, ADMIN),
    ("POST", "/deprovision", None, ADMIN),
]


def _team(cp: ControlPlane) -> tuple[str, dict[str, TestUser]]:
    admin = cp.admin(tokens=500)
    cp.client.patch("/v1/company", headers=admin.headers, json={"external_invitations_enabled": True})
    models = ["anthropic.claude-haiku-4-5", "anthropic.claude-sonnet-4-5"]
    resource_id = cp.provision(admin, models=models, default_model=models[0])["id"]
    member = cp.user(admin.company_id, "member@acme.example")
    cp.user(admin.company_id, "new@acme.example")
    colleague = cp.user(admin.company_id, "colleague@acme.example")
    cp.client.post(
        f"/v1/resources/{resource_id}/members", headers=admin.headers, json={"email": member.email}
    )
    outsider = cp.admin("Globex")
    external = cp.user(outsider.company_id, "guest@globex.example")
    invitation = cp.client.post(
        f"/v1/resources/{resource_id}/invitations", headers=admin.headers, json={"email": external.email}
    ).json()
    cp.client.post(f"/v1/invitations/{invitation['id']}/accept", headers=external.headers)
    users = {
        "admin": admin,
        "member": member,
        "external": external,
        "colleague": colleague,
        "outsider": outsider,
    }
    return resource_id, users


@pytest.mark.parametrize("role", ["admin", "member", "external", "colleague", "outsider"])
def test_every_route_enforces_the_matrix(control_plane: ControlPlane, role: str) -> None:
    cp = control_plane
    resource_id, users = _team(cp)
    user = users[role]
    for method, path, body, allowed in ROUTES:
        response = cp.client.request(
            method, f"/v1/resources/{resource_id}{path}", headers=user.headers, json=body
        )
        where = (role, method, path, body, response.text)
        if role in ("colleague", "outsider"):
            assert response.status_code == 404, where
        elif role in allowed:
            assert response.status_code not in (401, 403, 404), where
            assert response.status_code < 500, where
        else:
            assert response.status_code == 403, where
            assert response.json()["error"]["code"] == "forbidden", where


def test_only_admins_provision_and_change_company_settings(control_plane: ControlPlane) -> None:
    cp = control_plane
    _, users = _team(cp)
    for role in ("member", "external", "colleague"):
        assert cp.provision(users[role], expect=403)["error"]["code"] == "forbidden"
        patch = cp.client.patch(
            "/v1/company", headers=users[role].headers, json={"external_invitations_enabled": False}
        )
        assert patch.status_code == 403
