"""Every error a client sees has our one shape — the framework's own refusals included."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import KB


def test_an_unknown_route_is_our_404(client: TestClient) -> None:
    response = client.get("/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "No route /v1/no-such-thing.", "details": {}}
    }


def test_a_wrong_method_is_our_405_with_every_allowed_method(client: TestClient, kb: KB) -> None:
    # GET and POST on /documents are two routes; Allow must name both.
    response = client.put(kb.url("/documents"), headers=kb.headers)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    body = response.json()
    assert body["error"]["code"] == "method_not_allowed"
    assert "GET, POST" in body["error"]["message"]


def test_a_wrong_method_on_a_single_route_path(client: TestClient) -> None:
    response = client.delete("/health")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert set(response.json()) == {"error"}
