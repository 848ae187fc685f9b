"""The S/M/L plans' published token quotas: catalog data, how they relate to the GU allocation, and
where the portal shows them (provision form, Settings, Consumption)."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from kb_service.capacity.plans import GU_PER_TOKEN, PLAN_PRICES
from kb_service.catalog import get_model
from kb_service.catalog.quotas import family_of, plan_quota
from kb_service.portal.quotas import plan_quota_table, tokens_count
from tests.factories.controlplane import ControlPlane
from tests.kb_service.portal.conftest import sign_in, with_password

PUBLISHED: dict[str, dict[str, tuple[int, int | None]]] = {
    "text_generation": {
        "S": (2_500_000, 1_250_000),
        "M": (5_000_000, 2_500_000),
        "L": (10_000_000, 5_000_000),
    },
    "embeddings": {"S": (5_000_000, None), "M": (10_000_000, None), "L": (20_000_000, None)},
}


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_the_catalog_holds_the_published_quotas() -> None:
    for resource_type, plans in PUBLISHED.items():
        for plan, (tokens_in, tokens_out) in plans.items():
            found = plan_quota(resource_type, plan)
            assert found is not None
            _, quota = found
            assert (quota.input_tokens, quota.output_tokens) == (tokens_in, tokens_out)
    assert plan_quota("text_generation", None) is None  # a Cloud Token amount has no quota
    assert family_of("knowledge_base") is None


def test_every_plan_allocation_covers_its_whole_quota_on_the_dearest_model() -> None:
    opus = get_model("anthropic.claude-opus-4-1")
    found = plan_quota("text_generation", "S")
    assert found is not None
    # 2.5M × 179.07 + 1.25M × 895.35 per 1M = 447.675 + 1,119.1875 GU
    assert found[1].genai_units(opus) == pytest.approx(447.675 + 1119.1875)
    for table in plan_quota_table():
        for column in table.columns:
            assert column.allocation_gu == PLAN_PRICES[table.family.resource_type][column.plan] * GU_PER_TOKEN
            assert column.quota_gu_at_most <= column.allocation_gu


def test_quota_figures_read_as_published() -> None:
    assert [tokens_count(n) for n in (1_250_000, 2_500_000, 10_000_000, 20_000_000)] == [
        "1.25M",
        "2.5M",
        "10M",
        "20M",
    ]


def test_the_provision_form_shows_each_plan_quota_beside_its_gu(
    client: TestClient, control_plane: ControlPlane
) -> None:
    admin = with_password(control_plane, control_plane.admin())
    sign_in(client, admin.email)
    page = client.get("/portal/control/provision")
    assert page.status_code == 200
    claude = page.text[page.text.index('aria-label="Anthropic Claude (any version) plan quotas"') :]
    claude = _text(claude[: claude.index("</table>")])
    assert "Tokens in / month 2.5M 5M 10M" in claude
    assert "Tokens out / month 1.25M 2.5M 5M" in claude
    assert "GU allocation / month 3,000 6,000 12,000" in claude
    cohere = page.text[page.text.index('aria-label="Cohere Embed v3 plan quotas"') :]
    cohere = _text(cohere[: cohere.index("</table>")])
    assert "Tokens in / month 5M 10M 20M" in cohere
    assert "Tokens out" not in cohere  # embeddings have no output tokens
    assert "GU allocation / month 600 1,200 2,400" in cohere


def test_settings_and_consumption_show_the_resource_plan_quota(
    client: TestClient, control_plane: ControlPlane
) -> None:
    admin = with_password(control_plane, control_plane.admin())
    text = control_plane.provision(admin, plan="M")
    embeddings = control_plane.embeddings(admin, display_name="Vectors")  # a Cloud Token amount
    sign_in(client, admin.email)
    for tab in ("settings", "consumption"):
        shown = _text(client.get(f"/portal/resources/{text['id']}/{tab}").text)
        assert (
            "Plan M: 5M input and 2.5M output tokens a month of Anthropic Claude (any version), "
            "within its 6,000 GU a month" in shown
        ), tab
        other = _text(client.get(f"/portal/resources/{embeddings['id']}/{tab}").text)
        assert "A Cloud Tokens amount: no token quota, only the GU allocation applies." in other, tab
