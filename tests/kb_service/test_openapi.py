"""The OpenAPI document lists every route's errors with the one error body."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_routes_document_their_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    upload = paths["/v1/knowledge-bases/{kb_id}/documents"]["post"]["responses"]
    assert {"200", "202", "401", "404", "413", "415", "422"} <= set(upload)
    assert upload["413"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    search = paths["/v1/knowledge-bases/{kb_id}/search"]["post"]["responses"]
    assert {"200", "401", "404", "422", "429", "502", "503"} <= set(search)
    for path, methods in paths.items():
        if path.startswith("/v1/"):
            for method, operation in methods.items():
                assert "401" in operation["responses"], (method, path)
    assert client.get("/docs").status_code == 200
