"""Consumption: GU vs allocation, refill date, daily series per range, the CSV export, and
text-generation usage from the gateway at the model's in/out rates."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest

from kb_service.db import session_scope
from kb_service.services import Services
from tests.factories.controlplane import ControlPlane, TestUser

HAIKU = "anthropic.claude-haiku-4-5"


def _text_with_key(cp: ControlPlane, admin: TestUser, **fields: Any) -> tuple[str, dict[str, str]]:
    text = cp.provision(admin, **fields)
    with session_scope(cp.container.sessions) as session:
        secret = Services(session, cp.container, cp.clock).keys.create(text["id"], "gateway").secret
    return text["id"], {"Authorization": f"Bearer {secret}"}


def _report(
    cp: ControlPlane, headers: dict[str, str], input_tokens: int, output_tokens: int
) -> dict[str, object]:
    response = cp.client.post(
        "/v1/gateway/usage",
        headers=headers,
        json={"model_id": HAIKU, "input_tokens": input_tokens, "output_tokens": output_tokens},
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_gateway_usage_is_converted_at_the_models_rates(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    resource_id, key = _text_with_key(cp, admin, plan=None, cloud_tokens=16)
    recorded = _report(cp, key, 10_000_000, 8_000_000)  # 358.1 + 1,432.56 GU
    assert recorded["genai_units"] == pytest.approx(10 * 35.81 + 8 * 179.07)
    summary = cp.client.get(f"/v1/resources/{resource_id}/consumption", headers=admin.headers).json()
    assert summary["display"] == "1,791 / 1.6k"
    assert summary["allocation_genai_units"] == 1600
    assert summary["percent_used"] == pytest.approx(111.9)
    assert summary["exhausted"] is True
    assert (summary["bundle_month_start"], summary["refill_on"]) == ("2026-01-15", "2026-02-15")


def test_gateway_usage_needs_a_text_key_and_an_enabled_model(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    _, key = _text_with_key(cp, admin)
    wrong_model = cp.client.post(
        "/v1/gateway/usage",
        headers=key,
        json={"model_id": "anthropic.claude-opus-4-1", "input_tokens": 1, "output_tokens": 1},
    )
    assert wrong_model.status_code == 422
    assert (
        cp.client.post(
            "/v1/gateway/usage", json={"model_id": HAIKU, "input_tokens": 1, "output_tokens": 1}
        ).status_code
        == 401
    )
    negative = cp.client.post(
        "/v1/gateway/usage", headers=key, json={"model_id": HAIKU, "input_tokens": -1, "output_tokens": 0}
    )
    assert negative.status_code == 422


def test_daily_series_cover_each_range_and_the_csv_omits_empty_days(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    cp.clock.set(date(2026, 1, 10))
    resource_id, key = _text_with_key(cp, admin)
    cp.clock.set(date(2026, 2, 12))
    _report(cp, key, 1000, 200)
    _report(cp, key, 500, 0)
    cp.clock.set(date(2026, 2, 14))
    _report(cp, key, 300, 30)
    url = f"/v1/resources/{resource_id}/consumption"

    def series(range_: str) -> dict[str, object]:
        response = cp.client.get(f"{url}/daily", params={"range": range_}, headers=admin.headers)
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body

    week = series("W")
    assert (week["start"], week["end"]) == ("2026-02-08", "2026-02-14")
    days = week["days"]
    assert isinstance(days, list) and len(days) == 7
    by_day = {d["date"]: d for d in days}
    assert by_day["2026-02-12"]["input_tokens"] == 1500
    assert by_day["2026-02-12"]["api_calls"] == 2
    assert by_day["2026-02-13"] == {
        "date": "2026-02-13",
        "genai_units": 0.0,
        "input_tokens": 0,
        "output_tokens": 0,
        "api_calls": 0,
    }
    assert series("BM")["start"] == "2026-02-10"
    assert series("MTD")["start"] == "2026-02-01"
    assert series("6M")["start"] == "2025-08-15"
    assert week["allocation_genai_units"] == 3000

    exported = cp.client.get(f"{url}/export.csv", params={"range": "6M"}, headers=admin.headers)
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert rows == [
        {"date": "2026-02-12", "input_tokens": "1500", "output_tokens": "200"},
        {"date": "2026-02-14", "input_tokens": "300", "output_tokens": "30"},
    ]


def test_a_knowledge_base_has_no_consumption_of_its_own(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    embeddings = cp.embeddings(admin)
    kb = cp.knowledge_base(admin, embeddings["id"])
    response = cp.client.get(f"/v1/resources/{kb['id']}/consumption", headers=admin.headers)
    assert response.status_code == 422
    assert embeddings["id"] in response.json()["error"]["message"]
