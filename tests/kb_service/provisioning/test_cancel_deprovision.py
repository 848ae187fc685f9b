"""A scheduled deprovisioning can be cancelled until it takes effect (issue 13); afterwards 410."""

from __future__ import annotations

from datetime import date

from tests.factories.controlplane import ControlPlane


def test_a_scheduled_deprovisioning_is_cancelled_and_nothing_happens_at_month_end(
    control_plane: ControlPlane,
) -> None:
    cp = control_plane
    cp.clock.set(date(2026, 1, 10))
    admin = cp.admin(tokens=100)
    text = cp.provision(admin, plan="S")
    url = f"/v1/resources/{text['id']}/deprovision"
    assert cp.client.delete(url, headers=admin.headers).status_code == 409  # nothing scheduled
    assert cp.client.post(url, headers=admin.headers).json()["deprovision_on"] == "2026-02-10"

    cp.clock.set(date(2026, 2, 9))
    cancelled = cp.client.delete(url, headers=admin.headers)
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["status"], body["deprovision_on"], body["status_label"]) == ("active", None, "Active")

    cp.clock.set(date(2026, 2, 10))
    assert cp.apply_scheduled().deprovisioned == 0
    assert cp.client.get(f"/v1/resources/{text['id']}", headers=admin.headers).json()["status"] == "active"
    assert cp.client.get("/v1/company", headers=admin.headers).json()["cloud_tokens"]["available"] == 70
    # It can be scheduled again.
    assert cp.client.post(url, headers=admin.headers).status_code == 200


def test_after_it_took_effect_cancelling_is_a_410(control_plane: ControlPlane) -> None:
    cp = control_plane
    cp.clock.set(date(2026, 1, 10))
    admin = cp.admin()
    text = cp.provision(admin)
    url = f"/v1/resources/{text['id']}/deprovision"
    cp.client.post(url, headers=admin.headers)
    cp.clock.set(date(2026, 2, 10))
    assert cp.apply_scheduled().deprovisioned == 1
    gone = cp.client.delete(url, headers=admin.headers)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "gone"


def test_only_admins_cancel_and_a_plan_downgrade_survives_the_cancel(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    dana = cp.user(admin.company_id, "dana@acme.example")
    text = cp.provision(admin, plan="M")
    base = f"/v1/resources/{text['id']}"
    assert cp.client.put(f"{base}/capacity", headers=admin.headers, json={"plan": "S"}).status_code == 200
    cp.client.post(f"{base}/deprovision", headers=admin.headers)
    refused = cp.client.delete(f"{base}/deprovision", headers=dana.headers)
    assert refused.status_code == 403
    assert cp.client.delete(f"{base}/deprovision", headers=cp.admin("Globex").headers).status_code == 404
    cancelled = cp.client.delete(f"{base}/deprovision", headers=admin.headers).json()
    assert cancelled["status"] == "plan_downgrade_scheduled"
    assert cancelled["scheduled_change"]["plan"] == "S"


def test_a_kb_stays_scheduled_while_its_embeddings_resource_goes(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    embeddings = cp.embeddings(admin)
    kb = cp.knowledge_base(admin, embeddings["id"])
    cp.client.post(f"/v1/resources/{kb['id']}/deprovision", headers=admin.headers)
    cp.client.post(f"/v1/resources/{embeddings['id']}/deprovision", headers=admin.headers)
    refused = cp.client.delete(f"/v1/resources/{kb['id']}/deprovision", headers=admin.headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["details"]["embeddings_resource_id"] == embeddings["id"]
    assert (
        cp.client.delete(f"/v1/resources/{embeddings['id']}/deprovision", headers=admin.headers).status_code
        == 200
    )
    assert cp.client.delete(f"/v1/resources/{kb['id']}/deprovision", headers=admin.headers).status_code == 200
