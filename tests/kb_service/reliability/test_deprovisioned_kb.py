"""A knowledge base past its deprovisioning date refuses every data-plane call with a 410 — before the
sweep has run, on the API and in the portal — and nothing is embedded or metered for it; while the
deprovisioning is only scheduled, it works as before (issue 13)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from kb_service.config import Settings
from kb_service.container import Container
from kb_service.db import session_scope
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.knowledge.models import Document
from kb_service.metering.models import UsageEvent
from kb_service.services import ingestion_service
from tests.conftest import KB, Drainer, upload
from tests.factories.controlplane import ControlPlane
from tests.kb_service.portal.conftest import sign_in, with_password
from tests.kb_service.reliability.counting import CountingEmbedders, counting_container

SCHEDULED_DAY = date(2026, 2, 10)
EFFECTIVE_DAY = date(2026, 2, 15)  # the end of the bundle month that started on 15 January


@pytest.fixture
def counted(embedders: EmbedderRegistry) -> CountingEmbedders:
    return CountingEmbedders(embedders)


@pytest.fixture
def container(settings: Settings, counted: CountingEmbedders) -> Iterator[Container]:
    yield from counting_container(settings, counted)


def _usage_rows(container: Container) -> int:
    with session_scope(container.sessions) as session:
        return session.scalar(select(func.count(UsageEvent.id))) or 0


def _setup(cp: ControlPlane) -> tuple[Any, KB, Drainer]:
    admin = with_password(cp, cp.admin(tokens=100))
    embeddings = cp.embeddings(admin)
    kb_resource = cp.knowledge_base(admin, embeddings["id"])
    key = cp.client.post(f"/v1/resources/{kb_resource['id']}/keys", headers=admin.headers, json={})
    assert key.status_code == 201, key.text
    kb = KB(kb_resource["id"], embeddings["id"], key.json()["secret"])
    drain = Drainer(cp.container)
    # The workers read the same (movable) clock as the API.
    drain.service = ingestion_service(cp.container, cp.clock, worker_id="test-worker")
    return admin, kb, drain


def _calls(cp: ControlPlane, kb: KB) -> dict[str, Any]:
    """Every data-plane call of a KB key, answered."""
    c, h = cp.client, kb.headers
    chunks = {"mode": "insert", "chunks": [{"text": "Late fact.", "human_readable_id": "late"}]}
    evaluation = {"questions": [{"query": "warranty", "relevant": [{"human_readable_id": "warranty.txt"}]}]}
    return {
        "upload": upload(c, kb, "late.txt", b"A late upload."),
        "push": c.post(kb.url("/collections/default/chunks"), headers=h, json=chunks),
        "search": c.post(kb.url("/search"), headers=h, json={"query": "warranty"}),
        "metadata_edit": c.patch(
            kb.url("/collections/default/chunks"),
            headers=h,
            params={"mx_object_id": "o1"},
            json={"set": {"k": "v"}},
        ),
        "evaluation": c.post(kb.url("/evaluations"), headers=h, json=evaluation),
        "documents": c.get(kb.url("/documents"), headers=h),
        "collections": c.get(kb.url("/collections"), headers=h),
        "chunks": c.get(kb.url("/collections/default/chunks"), headers=h),
    }


def test_a_kb_past_its_deprovisioning_refuses_everything_and_meters_nothing(
    control_plane: ControlPlane, counted: CountingEmbedders
) -> None:
    cp = control_plane
    admin, kb, drain = _setup(cp)
    first = upload(cp.client, kb, "warranty.txt", b"The warranty covers parts for two years.")
    assert first.status_code == 202
    drain()

    cp.clock.set(SCHEDULED_DAY)
    scheduled = cp.client.post(f"/v1/resources/{kb.id}/deprovision", headers=admin.headers)
    assert scheduled.json()["deprovision_on"] == EFFECTIVE_DAY.isoformat()
    # Only scheduled: everything works, and a document queued now waits for a worker.
    working = _calls(cp, kb)
    assert {name: r.status_code for name, r in working.items()} == {
        "upload": 202,
        "push": 202,
        "search": 200,
        "metadata_edit": 202,
        "evaluation": 201,
        "documents": 200,
        "collections": 200,
        "chunks": 200,
    }

    cp.clock.set(EFFECTIVE_DAY)  # in effect, though the sweep has not run yet
    embedded, metered = counted.calls.count, _usage_rows(cp.container)
    refused = _calls(cp, kb)
    for name, response in refused.items():
        assert response.status_code == 410, (name, response.text)
        error = response.json()["error"]
        assert error["code"] == "gone"
        assert f"was deprovisioned on {EFFECTIVE_DAY.isoformat()}" in error["message"]
        assert error["details"] == {"resource_id": kb.id, "deprovisioned_on": EFFECTIVE_DAY.isoformat()}
    # The work queued while only scheduled fails unprocessed: nothing embedded, nothing metered.
    drain()
    assert (counted.calls.count, _usage_rows(cp.container)) == (embedded, metered)
    with session_scope(cp.container.sessions) as session:
        late = session.get(Document, working["upload"].json()["id"])
        assert late is not None
        assert late.status == "failed" and late.error is not None and "deprovisioned" in late.error

    cp.apply_scheduled()  # the sweep: keys revoked, index dropped
    assert cp.client.get(kb.url("/documents"), headers=kb.headers).status_code == 401


def test_the_portal_upload_form_says_so(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin, kb, _drain = _setup(cp)
    sign_in(cp.client, admin.email)
    content = f"/portal/resources/{kb.id}/content"
    assert "scheduled for deprovisioning" not in cp.client.get(content).text

    cp.clock.set(SCHEDULED_DAY)
    cp.client.post(f"/v1/resources/{kb.id}/deprovision", headers=admin.headers)
    sign_in(cp.client, admin.email)  # portal sessions follow the clock
    page = cp.client.get(content).text
    assert "scheduled for deprovisioning on February 15, 2026" in page
    assert 'class="primary">Upload</button>' in page  # still enabled

    cp.clock.set(EFFECTIVE_DAY)
    sign_in(cp.client, admin.email)
    page = cp.client.get(content).text
    assert "was deprovisioned on February 15, 2026" in page
    assert 'class="primary" disabled>Upload</button>' in page
    assert "multiple required disabled>" in page
    assert cp.client.get(f"/portal/resources/{kb.id}/documents.json").status_code == 410
