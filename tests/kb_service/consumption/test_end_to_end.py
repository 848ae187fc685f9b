"""End to end through the API: an admin provisions an embeddings resource and a KB, creates a KB key,
uploads a file through the data plane; the embeddings resource's consumption shows exactly the
metered input tokens and the matching GU. Exhausting the capacity refuses search (429) and pauses
ingestion; raising the capacity resumes it, with nothing lost."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from kb_service.catalog import get_model
from kb_service.config import Settings
from kb_service.db import session_scope
from kb_service.metering.models import UsageEvent
from tests.conftest import KB, Drainer, upload
from tests.factories.controlplane import ControlPlane

TEXT = b"The warranty covers parts and labour for two years. Returns are accepted within 30 days."


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], db_url: str) -> Settings:
    # Paused work is re-sent by the first sweep after it was released.
    return settings_factory(database_url=db_url, worker={"sweep_interval_s": 0.0})


def _json(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_upload_consumption_and_capacity_enforcement(control_plane: ControlPlane, drain: Drainer) -> None:
    cp = control_plane
    cp.clock.set(datetime.now(UTC).date())  # the data plane meters at the real time
    admin = cp.admin(tokens=100)
    embeddings = cp.embeddings(admin, cloud_tokens=1)  # 100 GU per bundle month
    kb_resource = cp.knowledge_base(admin, embeddings["id"])
    key = _json(
        cp.client.post(f"/v1/resources/{kb_resource['id']}/keys", headers=admin.headers, json={}), 201
    )
    assert key["paired_key"]["resource_id"] == embeddings["id"]
    kb = KB(kb_resource["id"], embeddings["id"], key["secret"])

    first = _json(upload(cp.client, kb, "warranty.txt", TEXT), 202)
    drain()
    document = _json(cp.client.get(kb.url(f"/documents/{first['id']}"), headers=kb.headers))
    assert document["status"] == "indexed"
    metered = document["input_tokens"]
    assert metered > 0

    usage_url = f"/v1/resources/{embeddings['id']}/consumption"
    summary = _json(cp.client.get(usage_url, headers=admin.headers))
    assert summary["used_genai_units"] == pytest.approx(get_model("all-minilm-l6-v2").genai_units(metered))
    assert summary["allocation_genai_units"] == 100
    series = _json(cp.client.get(f"{usage_url}/daily", params={"range": "W"}, headers=admin.headers))
    assert sum(d["input_tokens"] for d in series["days"]) == metered
    exported = cp.client.get(f"{usage_url}/export.csv", params={"range": "BM"}, headers=admin.headers)
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [int(r["input_tokens"]) for r in rows] == [metered]
    assert _json(cp.client.get(f"/v1/resources/{kb_resource['id']}/consumption", headers=admin.headers), 422)

    # Earlier use this bundle month took the rest of the 100 GU.
    with session_scope(cp.container.sessions) as session:
        today = datetime.now(UTC).date()
        session.add(
            UsageEvent(
                resource_id=embeddings["id"],
                day=today,
                model_id="all-minilm-l6-v2",
                genai_units=100.0,
                api_calls=1,
                source="query",
            )
        )

    refused = cp.client.post(kb.url("/search"), headers=kb.headers, json={"query": "warranty"})
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert embeddings["id"] in error["message"] and summary["refill_on"] in error["message"]
    assert error["details"] == {"resource_id": embeddings["id"], "refill_on": summary["refill_on"]}

    second = _json(upload(cp.client, kb, "returns.txt", b"Returns need the original receipt."), 202)
    drain()
    paused = _json(cp.client.get(kb.url(f"/documents/{second['id']}"), headers=kb.headers))
    assert paused["status"] == "paused"
    assert paused["error"].startswith("Paused: Embeddings resource")
    drain.service.sweep()
    drain()  # still exhausted: stays paused, not failed
    assert (
        _json(cp.client.get(kb.url(f"/documents/{second['id']}"), headers=kb.headers))["status"] != "failed"
    )

    raised = cp.client.put(
        f"/v1/resources/{embeddings['id']}/capacity", headers=admin.headers, json={"cloud_tokens": 2}
    )
    assert _json(raised)["genai_units_per_month"] == 200
    drain.service.sweep()
    drain()
    resumed = _json(cp.client.get(kb.url(f"/documents/{second['id']}"), headers=kb.headers))
    assert (resumed["status"], resumed["error"]) == ("indexed", None)
    hits = _json(cp.client.post(kb.url("/search"), headers=kb.headers, json={"query": "receipt"}))
    assert {r["document_id"] for r in hits["results"]} == {first["id"], second["id"]}


def test_pushed_chunk_jobs_pause_and_resume_after_the_refill(
    control_plane: ControlPlane, drain: Drainer
) -> None:
    cp = control_plane
    today = datetime.now(UTC).date()
    cp.clock.set(today)
    admin = cp.admin(tokens=100)
    embeddings = cp.embeddings(admin, cloud_tokens=1)
    kb_resource = cp.knowledge_base(admin, embeddings["id"])
    key = _json(
        cp.client.post(f"/v1/resources/{kb_resource['id']}/keys", headers=admin.headers, json={}), 201
    )
    kb = KB(kb_resource["id"], embeddings["id"], key["secret"])
    with session_scope(cp.container.sessions) as session:
        session.add(
            UsageEvent(
                resource_id=embeddings["id"],
                day=today,
                model_id="all-minilm-l6-v2",
                genai_units=100.0,
                source="query",
            )
        )
    chunks = [{"text": f"Fact number {i}.", "human_readable_id": f"fact-{i}"} for i in range(3)]
    job = _json(
        cp.client.post(
            kb.url("/collections/facts/chunks"), headers=kb.headers, json={"mode": "insert", "chunks": chunks}
        ),
        202,
    )
    drain()
    paused = _json(cp.client.get(kb.url(f"/jobs/{job['id']}"), headers=kb.headers))
    assert paused["status"] == "paused" and paused["error"].startswith("Paused:")

    # The next bundle month starts: the refill lets the job through by itself.
    with session_scope(cp.container.sessions) as session:
        from kb_service.resources.models import Resource

        resource = session.get(Resource, embeddings["id"])
        assert resource is not None
        resource.activated_on = today  # the refill happened today; the old usage was yesterday's month
        event = session.query(UsageEvent).filter_by(resource_id=embeddings["id"], source="query").one()
        event.day = date.fromordinal(today.toordinal() - 1)
    drain.service.sweep()
    drain()
    done = _json(cp.client.get(kb.url(f"/jobs/{job['id']}"), headers=kb.headers))
    assert (done["status"], done["chunk_count"]) == ("indexed", 3)
