"""The activity log: newest first, paged, visible only to those who see the resource."""

from __future__ import annotations

from tests.factories.controlplane import ControlPlane


def test_activity_is_paged_newest_first_and_scoped(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    text = cp.provision(admin)
    url = f"/v1/resources/{text['id']}"
    # Provisioning is logged too (the resource, and Dana Dev joining its team); newer entries go first.
    before = cp.client.get(f"{url}/activity", headers=admin.headers).json()["total"]
    for description in ("one", "two", "three"):
        cp.clock.advance(minutes=1)
        cp.client.post(f"{url}/keys", headers=admin.headers, json={"description": description})
    page = cp.client.get(f"{url}/activity", params={"limit": 2}, headers=admin.headers).json()
    assert page["total"] == before + 3 and len(page["items"]) == 2
    times = [e["occurred_at"] for e in page["items"]]
    assert times == sorted(times, reverse=True)
    rest = cp.client.get(f"{url}/activity", params={"offset": 2}, headers=admin.headers).json()
    assert len(rest["items"]) == before + 1 and rest["items"][0]["occurred_at"] < times[-1]
    outsider = cp.admin("Globex")
    assert cp.client.get(f"{url}/activity", headers=outsider.headers).status_code == 404
