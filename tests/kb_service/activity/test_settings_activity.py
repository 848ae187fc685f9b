"""Settings and capacity changes are in the activity log (issue 13): provisioning, renames and other
settings, enabled models, capacity changes (and a scheduled change cancelled or carried out),
deprovisioning scheduled, cancelled and carried out."""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.factories.controlplane import ControlPlane, TestUser


def _log(cp: ControlPlane, user: TestUser, resource_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    page = cp.client.get(
        f"/v1/resources/{resource_id}/activity", params={"limit": 100}, headers=user.headers
    ).json()
    return [(e["actor"], e["action"], e["detail"]) for e in reversed(page["items"])]


def test_settings_capacity_and_lifecycle_changes_are_logged(control_plane: ControlPlane) -> None:
    cp = control_plane
    cp.clock.set(date(2026, 1, 10))
    admin = cp.admin()
    text = cp.provision(admin, plan="M", models=["anthropic.claude-haiku-4-5"])
    base = f"/v1/resources/{text['id']}"
    steps: list[tuple[str, str, dict[str, Any] | None]] = [
        ("PATCH", "", {"display_name": "Writer", "environment": "Production"}),
        ("PUT", "/models", {"models": ["anthropic.claude-haiku-4-5", "anthropic.claude-sonnet-4-5"]}),
        ("PUT", "/capacity", {"plan": "L"}),
        ("PUT", "/capacity", {"plan": "S"}),  # a downgrade: deferred to the next bundle month
        ("DELETE", "/capacity/scheduled", None),
        ("POST", "/deprovision", None),
        ("DELETE", "/deprovision", None),
    ]
    for method, path, body in steps:
        cp.clock.advance(minutes=1)
        response = cp.client.request(method, f"{base}{path}", headers=admin.headers, json=body)
        assert response.status_code == 200, (path, response.text)
    cp.clock.advance(minutes=1)
    cp.client.put(f"{base}/capacity", headers=admin.headers, json={"plan": "S"})
    cp.client.post(f"{base}/deprovision", headers=admin.headers)
    cp.clock.set(date(2026, 2, 10))
    cp.apply_scheduled()

    entries = _log(cp, admin, text["id"])
    actions = [action for _, action, _ in entries]
    assert actions == [
        "resource.provisioned",
        "member.added",
        "settings.changed",
        "models.changed",
        "capacity.changed",
        "capacity.changed",
        "capacity.change_cancelled",
        "deprovision.scheduled",
        "deprovision.cancelled",
        "capacity.changed",
        "deprovision.scheduled",
        "capacity.changed",  # the scheduler applies the downgrade …
        "resource.deprovisioned",  # … then deprovisions
    ]
    by_action = {action: (actor, detail) for actor, action, detail in entries}
    assert entries[0] == (admin.email, "resource.provisioned", {"plan": "M", "cloud_tokens": 60})
    assert by_action["settings.changed"] == (
        admin.email,
        {"display_name": "Writer", "environment": "Production"},
    )
    assert by_action["models.changed"][1]["previous"] == ["anthropic.claude-haiku-4-5"]
    assert entries[4][2]["plan"] == "L" and entries[4][2]["scheduled_on"] is None
    assert entries[5][2]["plan"] == "L" and entries[5][2]["scheduled_plan"] == "S"
    assert entries[-2][0] == "system" and entries[-2][2]["plan"] == "S"
    assert entries[-1][0] == "system"
    assert by_action["deprovision.cancelled"][1] == {"on": "2026-02-10"}
