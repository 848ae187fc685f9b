"""Reported gateway usage is bounded per call (MAX_TOKENS_PER_CALL, in and out each), so no accepted
report can make a later read fail: the ledger's sums stay far below 2^63 on SQLite (whose SUM()
raises on overflow) and PostgreSQL. Before, two reports of 2^63 - 1 tokens broke /metrics and every
consumption read of the resource for good."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from kb_service.db import session_scope
from kb_service.services import Services
from schemas.consumption import MAX_TOKENS_PER_CALL
from tests.factories.controlplane import ControlPlane, TestUser

HAIKU = "anthropic.claude-haiku-4-5"
MAXIMAL_CALLS = 60


def _text_with_key(cp: ControlPlane, admin: TestUser, **fields: Any) -> tuple[str, dict[str, str]]:
    text = cp.provision(admin, **fields)
    with session_scope(cp.container.sessions) as session:
        secret = Services(session, cp.container, cp.clock).keys.create(text["id"], "gateway").secret
    return text["id"], {"Authorization": f"Bearer {secret}"}


def _report(cp: ControlPlane, key: dict[str, str], **tokens: Any) -> Any:
    return cp.client.post("/v1/gateway/usage", headers=key, json={"model_id": HAIKU, **tokens})


@pytest.mark.parametrize(
    "tokens",
    [
        {"input_tokens": 2**63, "output_tokens": 0},
        {"input_tokens": 2**63 - 1, "output_tokens": 0},
        {"input_tokens": 0, "output_tokens": 2**64},
        {"input_tokens": MAX_TOKENS_PER_CALL + 1, "output_tokens": 0},
        {"input_tokens": 0, "output_tokens": MAX_TOKENS_PER_CALL + 1},
    ],
)
def test_usage_past_the_per_call_maximum_is_a_422_and_not_booked(
    control_plane: ControlPlane, tokens: dict[str, int]
) -> None:
    cp = control_plane
    admin = cp.admin()
    resource_id, key = _text_with_key(cp, admin)
    response = _report(cp, key, **tokens)
    assert response.status_code == 422, response.text  # 2^63: a 500; 2^63 - 1: accepted
    assert response.json()["error"]["code"] == "invalid_input"
    summary = cp.client.get(f"/v1/resources/{resource_id}/consumption", headers=admin.headers).json()
    assert summary["used_genai_units"] == 0


def test_the_per_call_maximum_is_documented(control_plane: ControlPlane) -> None:
    schema = control_plane.client.get("/openapi.json").json()["components"]["schemas"]["GatewayUsage"]
    for field in ("input_tokens", "output_tokens"):
        assert schema["properties"][field]["maximum"] == MAX_TOKENS_PER_CALL


def test_many_maximal_calls_leave_every_read_working(control_plane: ControlPlane) -> None:
    cp = control_plane
    # Room for every call: a maximal call is ~2,149 GU and capacity refuses calls once exhausted.
    admin = cp.admin(tokens=10_000)
    resource_id, key = _text_with_key(cp, admin, plan=None, cloud_tokens=10_000)
    for _ in range(MAXIMAL_CALLS):
        booked = _report(cp, key, input_tokens=MAX_TOKENS_PER_CALL, output_tokens=MAX_TOKENS_PER_CALL)
        assert booked.status_code == 200, booked.text
    total = MAXIMAL_CALLS * MAX_TOKENS_PER_CALL
    # The bound keeps sums exact and far from 64 bits for any number of calls a deployment can make.
    assert (2**63 - 1) // MAX_TOKENS_PER_CALL > 10**11

    metrics = cp.client.get("/metrics")
    assert metrics.status_code == 200
    series = f'kb_embedding_input_tokens_total{{model="{HAIKU}",source="gateway"}} '
    values = [line.removeprefix(series) for line in metrics.text.splitlines() if line.startswith(series)]
    assert [float(v) for v in values] == [total]
    url = f"/v1/resources/{resource_id}/consumption"
    for range_ in ("W", "BM", "MTD", "6M"):
        daily = cp.client.get(f"{url}/daily", headers=admin.headers, params={"range": range_})
        assert daily.status_code == 200, daily.text
        today = daily.json()["days"][-1]
        assert (today["input_tokens"], today["output_tokens"], today["api_calls"]) == (
            total,
            total,
            MAXIMAL_CALLS,
        )
    exported = cp.client.get(f"{url}/export.csv", headers=admin.headers)
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[1][1:] == [str(total), str(total)]
    summary = cp.client.get(url, headers=admin.headers)
    assert summary.status_code == 200
    assert summary.json()["used_genai_units"] == pytest.approx(MAXIMAL_CALLS * (10 * 35.81 + 10 * 179.07))
