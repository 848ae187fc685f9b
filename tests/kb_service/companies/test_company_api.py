"""The company: subscription record, Cloud Token balance, external-invitation setting."""

from __future__ import annotations

from tests.factories.controlplane import ControlPlane


def test_company_shows_subscription_and_balance(control_plane: ControlPlane) -> None:
    admin = control_plane.admin(tokens=120, price_list_year=2024)
    body = control_plane.client.get("/v1/company", headers=admin.headers).json()
    assert body["subscription"] == {
        "price_list_year": 2024,
        "enterprise_platform_subscriptions": 1,
        "accounts": 1,
    }
    assert body["cloud_tokens"] == {"total": 120, "consumed": 0, "available": 120}
    assert body["external_invitations_enabled"] is False


def test_only_admins_enable_external_invitations(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    member = cp.user(admin.company_id, "m@acme.example")
    refused = cp.client.patch(
        "/v1/company", headers=member.headers, json={"external_invitations_enabled": True}
    )
    assert refused.status_code == 403
    done = cp.client.patch("/v1/company", headers=admin.headers, json={"external_invitations_enabled": True})
    assert done.json()["external_invitations_enabled"] is True


def test_each_company_sees_only_its_own_ledger(control_plane: ControlPlane) -> None:
    cp = control_plane
    acme = cp.admin(tokens=100)
    globex = cp.admin("Globex", tokens=40)
    cp.user(globex.company_id, "g@globex.example")
    cp.provision(globex, created_for={"name": "G", "email": "g@globex.example"})
    ledger = cp.client.get("/v1/company/cloud-tokens", headers=acme.headers).json()
    assert [t["reason"] for t in ledger["transactions"]] == ["purchase"]
    assert ledger["available"] == 100
