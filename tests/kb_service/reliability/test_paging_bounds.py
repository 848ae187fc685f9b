"""Every paged route bounds `offset` and `limit` in its schema: a value past 64 bits (or past the
documented maximum) is our 422, not an OverflowError from the database."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from schemas._base import MAX_LIMIT, MAX_OFFSET
from tests.conftest import KB
from tests.factories.controlplane import ControlPlane


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"]["errors"][0]["field"] == f"query.{field}"


@pytest.mark.parametrize("offset", [2**63, 2**64, MAX_OFFSET + 1])
@pytest.mark.parametrize("path", ["/documents", "/collections/default/chunks", "/evaluations"])
def test_an_offset_past_the_maximum_is_a_422_on_kb_listings(
    client: TestClient, kb: KB, path: str, offset: int
) -> None:
    _refused(client.get(kb.url(path), headers=kb.headers, params={"offset": offset}), "offset")


def test_the_maximum_offset_is_an_empty_page(client: TestClient, kb: KB) -> None:
    page = client.get(kb.url("/documents"), headers=kb.headers, params={"offset": MAX_OFFSET})
    assert page.status_code == 200
    assert page.json()["items"] == [] and page.json()["offset"] == MAX_OFFSET


def test_a_limit_past_the_maximum_is_a_422(client: TestClient, kb: KB) -> None:
    _refused(client.get(kb.url("/documents"), headers=kb.headers, params={"limit": 2**64}), "limit")
    _refused(client.get(kb.url("/documents"), headers=kb.headers, params={"limit": MAX_LIMIT + 1}), "limit")


@pytest.mark.parametrize("offset", [2**63, 2**64])
def test_an_offset_past_64_bits_is_a_422_on_the_activity_log(
    control_plane: ControlPlane, offset: int
) -> None:
    cp = control_plane
    admin = cp.admin()
    text = cp.provision(admin)
    response = cp.client.get(
        f"/v1/resources/{text['id']}/activity", headers=admin.headers, params={"offset": offset}
    )
    _refused(response, "offset")


def test_paging_bounds_are_documented(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/v1/knowledge-bases/{kb_id}/documents", "/v1/resources/{resource_id}/activity"):
        parameters = {p["name"]: p["schema"] for p in spec["paths"][path]["get"]["parameters"]}
        assert parameters["offset"]["maximum"] == MAX_OFFSET
        assert parameters["limit"]["maximum"] == MAX_LIMIT
