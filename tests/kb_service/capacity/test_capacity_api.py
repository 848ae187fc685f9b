"""Capacity edits: increase now, decrease now or at the next bundle month, plan downgrades scheduled
and cancellable, applied by the periodic task; KBs have no capacity; admins only."""

from __future__ import annotations

from datetime import date

from kb_service.db import session_scope
from kb_service.metering.models import UsageEvent
from tests.factories.controlplane import ControlPlane, TestUser


def _capacity(cp: ControlPlane, user: TestUser, resource_id: str, **body: object) -> dict[str, object]:
    response = cp.client.put(f"/v1/resources/{resource_id}/capacity", headers=user.headers, json=body)
    result: dict[str, object] = response.json()
    result["_status"] = response.status_code
    return result


def _use(cp: ControlPlane, resource_id: str, day: date, gu: float) -> None:
    with session_scope(cp.container.sessions) as session:
        session.add(
            UsageEvent(
                resource_id=resource_id,
                day=day,
                model_id="anthropic.claude-haiku-4-5",
                input_tokens=1,
                api_calls=1,
                genai_units=gu,
                source="gateway",
            )
        )


def _available(cp: ControlPlane, user: TestUser) -> int:
    available: int = cp.client.get("/v1/company", headers=user.headers).json()["cloud_tokens"]["available"]
    return available


def test_an_increase_applies_at_once_and_needs_free_tokens(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin(tokens=30)
    text = cp.provision(admin, plan=None, cloud_tokens=10)
    raised = _capacity(cp, admin, text["id"], cloud_tokens=25)
    assert (raised["_status"], raised["cloud_tokens"], raised["genai_units_per_month"]) == (200, 25, 2500)
    assert _available(cp, admin) == 5
    refused = _capacity(cp, admin, text["id"], cloud_tokens=40)
    assert refused["_status"] == 409
    assert refused["error"]["details"]["missing"] == 10  # type: ignore[index]


def test_a_decrease_below_the_usage_waits_for_the_next_bundle_month(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin(tokens=100)
    text = cp.provision(admin, plan=None, cloud_tokens=20)  # 2,000 GU, refill 15 Feb
    _use(cp, text["id"], date(2026, 1, 20), 900.0)
    cp.clock.set(date(2026, 1, 25))
    now = _capacity(cp, admin, text["id"], cloud_tokens=10)  # 1,000 GU > 900 used: at once
    assert (now["cloud_tokens"], now["scheduled_change"]) == (10, None)
    assert _available(cp, admin) == 90
    later = _capacity(cp, admin, text["id"], cloud_tokens=5)  # 500 GU < 900 used: next month
    assert later["cloud_tokens"] == 10
    assert later["scheduled_change"] == {
        "on": "2026-02-15",
        "plan": None,
        "cloud_tokens": 5,
        "genai_units_per_month": 500,
    }
    assert later["status"] == "active"
    cp.clock.set(date(2026, 2, 14))
    cp.apply_scheduled()
    assert _available(cp, admin) == 90
    cp.clock.set(date(2026, 2, 15))
    cp.apply_scheduled()
    resource = cp.client.get(f"/v1/resources/{text['id']}", headers=admin.headers).json()
    assert (resource["cloud_tokens"], resource["scheduled_change"]) == (5, None)
    assert _available(cp, admin) == 95


def test_a_plan_downgrade_is_scheduled_and_cancellable(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin(tokens=200)
    text = cp.provision(admin, plan="L")
    upgraded = _capacity(cp, admin, text["id"], plan="L")
    assert upgraded["status"] == "active"
    down = _capacity(cp, admin, text["id"], plan="M")
    assert (down["status"], down["status_label"], down["plan"]) == (
        "plan_downgrade_scheduled",
        "PLAN DOWNGRADE SCHEDULED",
        "L",
    )
    assert down["scheduled_change"]["on"] == "2026-02-15"  # type: ignore[index]
    cancel = cp.client.delete(f"/v1/resources/{text['id']}/capacity/scheduled", headers=admin.headers)
    assert (cancel.status_code, cancel.json()["status"], cancel.json()["scheduled_change"]) == (
        200,
        "active",
        None,
    )
    again = cp.client.delete(f"/v1/resources/{text['id']}/capacity/scheduled", headers=admin.headers)
    assert again.status_code == 409
    _capacity(cp, admin, text["id"], plan="S")
    cp.clock.set(date(2026, 2, 15))
    cp.apply_scheduled()
    resource = cp.client.get(f"/v1/resources/{text['id']}", headers=admin.headers).json()
    assert (resource["status"], resource["plan"], resource["cloud_tokens"]) == ("active", "S", 30)
    assert _available(cp, admin) == 170


def test_a_plan_upgrade_applies_at_once(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin(tokens=200)
    embeddings = cp.embeddings(admin, plan="S", cloud_tokens=None)
    up = _capacity(cp, admin, embeddings["id"], plan="L")
    assert (up["plan"], up["cloud_tokens"], up["status"]) == ("L", 24, "active")


def test_knowledge_bases_have_no_capacity(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    kb = cp.knowledge_base(admin, cp.embeddings(admin)["id"])
    refused = _capacity(cp, admin, kb["id"], cloud_tokens=60)
    assert (refused["_status"], refused["error"]["message"]) == (422, "Knowledge bases have no capacity.")  # type: ignore[index]


def test_only_company_admins_change_capacity(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    member = cp.user(admin.company_id, "dana@acme.example")
    text = cp.provision(admin)
    assert _capacity(cp, member, text["id"], plan="M")["_status"] == 403
    outsider = cp.admin("Globex")
    assert _capacity(cp, outsider, text["id"], plan="M")["_status"] == 404
