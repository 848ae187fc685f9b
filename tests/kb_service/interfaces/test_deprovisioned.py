"""A knowledge base whose deprovisioning took effect refuses on the MCP and OpenAI-compatible
interfaces as on the REST API (410 `gone`, nothing embedded or metered), since both go through the
same services; the KB no longer shows in the key's vector-store list."""

from __future__ import annotations

from typing import Any

import anyio
from mcp import Client
from mcp.server.mcpserver import Context
from sqlalchemy import func, select

from kb_service.clock import Clock
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.mcp.tools import Caller, build_server
from kb_service.metering.models import UsageEvent
from tests.conftest import KB, Drainer, upload
from tests.factories.controlplane import ControlPlane
from tests.kb_service.reliability.test_deprovisioned_kb import EFFECTIVE_DAY, SCHEDULED_DAY


def _usage_rows(container: Container) -> int:
    with session_scope(container.sessions) as session:
        return session.scalar(select(func.count(UsageEvent.id))) or 0


def test_a_deprovisioned_kb_is_gone_on_mcp_and_the_vector_store_api(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin(tokens=100)
    embeddings = cp.embeddings(admin)
    kb = cp.knowledge_base(admin, embeddings["id"])
    key = cp.client.post(f"/v1/resources/{kb['id']}/keys", headers=admin.headers, json={}).json()["secret"]
    headers = {"Authorization": f"Bearer {key}"}
    kb_url = f"/v1/knowledge-bases/{kb['id']}"
    uploaded = upload(cp.client, KB(kb["id"], embeddings["id"], key), "w.txt", b"Two years of warranty.")
    assert uploaded.status_code == 202
    Drainer(cp.container)()
    cp.clock.set(SCHEDULED_DAY)
    assert cp.client.post(f"/v1/resources/{kb['id']}/deprovision", headers=admin.headers).status_code == 200
    cp.clock.set(EFFECTIVE_DAY)  # in effect, though the sweep has not run yet
    metered = _usage_rows(cp.container)

    def runtime() -> tuple[Container, Clock]:
        return cp.container, cp.clock

    def caller_of(_ctx: Context) -> Caller:
        return Caller(key=key, kb_id=kb["id"])

    seen: dict[str, Any] = {}

    async def main() -> None:
        async with Client(build_server(runtime, caller_of)) as client:
            seen["search"] = await client.call_tool("search", {"query": "warranty"})
            seen["collections"] = await client.call_tool("list_collections", {})

    anyio.run(main)
    for name in ("search", "collections"):
        result = seen[name]
        assert result.is_error, name
        assert result.structured_content["error"]["code"] == "gone"

    vs = f"/v1/vector_stores/{kb['id']}"
    for response in (
        cp.client.post(f"{vs}/search", headers=headers, json={"query": "warranty"}),
        cp.client.get(vs, headers=headers),
        cp.client.get(f"{vs}/files", headers=headers),
        cp.client.post(
            "/v1/files", headers=headers, files={"file": ("a.txt", b"x")}, data={"purpose": "assistants"}
        ),
    ):
        assert response.status_code == 410, response.text
        assert response.json()["error"]["code"] == "gone"
    assert cp.client.get("/v1/vector_stores", headers=headers).json()["data"] == []
    assert cp.client.post(f"{kb_url}/search", headers=headers, json={"query": "warranty"}).status_code == 410
    assert _usage_rows(cp.container) == metered  # nothing embedded or metered
