"""Lifecycle with a controllable clock: deprovisioning at the end of the bundle month, the periodic
task carrying it out, KB + embeddings in the same month, rename and default-model changes."""

from __future__ import annotations

from datetime import date

from kb_service.services import Services
from tests.factories.controlplane import ControlPlane


def _run_scheduled(cp: ControlPlane) -> None:
    cp.apply_scheduled()


def _get(cp: ControlPlane, headers: dict[str, str], resource_id: str) -> dict[str, object]:
    response = cp.client.get(f"/v1/resources/{resource_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_deprovisioning_is_scheduled_for_the_end_of_the_bundle_month(control_plane: ControlPlane) -> None:
    cp = control_plane
    cp.clock.set(date(2026, 1, 31))
    admin = cp.admin(tokens=100)
    text = cp.provision(admin, plan="S")
    cp.clock.set(date(2026, 3, 10))  # bundle month 28 Feb .. 31 Mar
    response = cp.client.post(f"/v1/resources/{text['id']}/deprovision", headers=admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "deprovisioning_scheduled"
    assert body["deprovision_on"] == "2026-03-31"
    assert body["status_label"] == "Deprovisioning scheduled for 2026-03-31"
    again = cp.client.post(f"/v1/resources/{text['id']}/deprovision", headers=admin.headers)
    assert again.status_code == 409

    cp.clock.set(date(2026, 3, 30))
    _run_scheduled(cp)
    assert _get(cp, admin.headers, text["id"])["status"] == "deprovisioning_scheduled"  # usable until then
    assert cp.client.get("/v1/company", headers=admin.headers).json()["cloud_tokens"]["available"] == 70

    cp.clock.set(date(2026, 3, 31))
    _run_scheduled(cp)
    _run_scheduled(cp)  # idempotent
    assert _get(cp, admin.headers, text["id"])["status"] == "deprovisioned"
    tokens = cp.client.get("/v1/company/cloud-tokens", headers=admin.headers).json()
    assert tokens["available"] == 100
    assert [(t["reason"], t["tokens"], t["remaining"]) for t in tokens["transactions"]][-1] == (
        "deprovisioned",
        30,
        100,
    )


def test_deprovisioned_knowledge_base_keys_stop_working(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    embeddings = cp.embeddings(admin)
    kb = cp.knowledge_base(admin, embeddings["id"])
    from kb_service.db import session_scope

    with session_scope(cp.container.sessions) as session:
        secret = Services(session, cp.container, cp.clock).keys.create(kb["id"], "app").secret
    headers = {"Authorization": f"Bearer {secret}"}
    assert cp.client.get(f"/v1/knowledge-bases/{kb['id']}/collections", headers=headers).status_code == 200
    cp.client.post(f"/v1/resources/{kb['id']}/deprovision", headers=admin.headers)
    cp.clock.set(date(2026, 2, 14))
    _run_scheduled(cp)
    assert cp.client.get(f"/v1/knowledge-bases/{kb['id']}/collections", headers=headers).status_code == 200
    cp.clock.set(date(2026, 2, 15))
    _run_scheduled(cp)
    assert cp.client.get(f"/v1/knowledge-bases/{kb['id']}/collections", headers=headers).status_code == 401


def test_an_embeddings_resource_goes_after_its_knowledge_bases_in_the_same_month(
    control_plane: ControlPlane,
) -> None:
    cp = control_plane
    cp.clock.set(date(2026, 1, 20))
    admin = cp.admin(tokens=100)
    embeddings = cp.embeddings(admin)
    cp.clock.set(date(2026, 2, 1))
    kb = cp.knowledge_base(admin, embeddings["id"])
    cp.clock.set(date(2026, 2, 10))  # embeddings month ends 20 Feb, the KB's 1 Mar
    blocked = cp.client.post(f"/v1/resources/{embeddings['id']}/deprovision", headers=admin.headers)
    assert blocked.status_code == 409
    assert blocked.json()["error"]["details"]["knowledge_base_ids"] == [kb["id"]]
    assert (
        cp.client.post(f"/v1/resources/{kb['id']}/deprovision", headers=admin.headers).json()[
            "deprovision_on"
        ]
        == "2026-03-01"
    )
    scheduled = cp.client.post(f"/v1/resources/{embeddings['id']}/deprovision", headers=admin.headers)
    assert scheduled.status_code == 200, scheduled.text
    # Never before the KB that embeds with it.
    assert scheduled.json()["deprovision_on"] == "2026-03-01"
    cp.clock.set(date(2026, 3, 1))
    _run_scheduled(cp)
    assert _get(cp, admin.headers, kb["id"])["status"] == "deprovisioned"
    assert _get(cp, admin.headers, embeddings["id"])["status"] == "deprovisioned"
    assert cp.client.get("/v1/company", headers=admin.headers).json()["cloud_tokens"]["available"] == 100


def test_only_company_admins_deprovision(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    member = cp.user(admin.company_id, "dana@acme.example")  # the user it is created for
    text = cp.provision(admin)
    response = cp.client.post(f"/v1/resources/{text['id']}/deprovision", headers=member.headers)
    assert response.status_code == 403


def test_rename_environment_and_default_model(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    models = ["anthropic.claude-haiku-4-5", "anthropic.claude-sonnet-4-5"]
    text = cp.provision(admin, models=models, default_model=models[0])
    url = f"/v1/resources/{text['id']}"
    changed = cp.client.patch(
        url,
        headers=admin.headers,
        json={"display_name": "Helper", "environment": "Production", "default_model": models[1]},
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["display_name"], body["environment"], body["default_model"]) == (
        "Helper",
        "Production",
        models[1],
    )
    wrong = cp.client.patch(url, headers=admin.headers, json={"default_model": "anthropic.claude-opus-4-1"})
    assert wrong.status_code == 422
    assert cp.client.patch(url, headers=admin.headers, json={}).status_code == 422
    assert cp.client.patch(url, headers=admin.headers, json={"environment": "Staging"}).status_code == 422


def test_a_new_kb_cannot_link_to_an_embeddings_resource_on_its_way_out(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    embeddings = cp.embeddings(admin, plan="L", cloud_tokens=None)
    cp.client.put(f"/v1/resources/{embeddings['id']}/capacity", headers=admin.headers, json={"plan": "S"})
    assert cp.knowledge_base(admin, embeddings["id"])["plan"] == "Standard"  # a downgrade does not block
    other = cp.embeddings(admin)
    cp.client.post(f"/v1/resources/{other['id']}/deprovision", headers=admin.headers)
    refused = cp.knowledge_base(admin, other["id"], expect=409)
    assert "deprovisioned" in refused["error"]["message"]
