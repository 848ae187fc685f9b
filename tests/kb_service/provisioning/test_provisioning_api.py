"""Provisioning: prerequisites first, the verbatim warning, preview, sizes, KB linking, overview."""

from __future__ import annotations

from typing import Any

import pytest

from kb_service.resources.validation import PLATFORM_ACCOUNT_WARNING
from tests.factories.controlplane import ControlPlane, request_body

WARNING = (
    "We couldn't retrieve your correct platform account, which is required to access available tokens "
    "and create resources. Please contact Mendix Support for assistance."
)


def test_the_platform_warning_is_the_seed_text_verbatim() -> None:
    assert PLATFORM_ACCOUNT_WARNING == WARNING


@pytest.mark.parametrize(
    "subscription", [{"enterprise_subscriptions": 0}, {"enterprise_subscriptions": 2}, {"accounts": 2}]
)
def test_without_a_single_platform_account_provisioning_shows_the_warning(
    control_plane: ControlPlane, subscription: dict[str, Any]
) -> None:
    admin = control_plane.admin(**subscription)
    body = control_plane.provision(admin, expect=403)
    assert body["error"] == {
        "code": "prerequisite_not_met",
        "message": WARNING,
        "details": body["error"]["details"],
    }
    assert control_plane.client.get("/v1/resources", headers=admin.headers).json() == []


def test_a_price_list_older_than_fy21_is_refused(control_plane: ControlPlane) -> None:
    admin = control_plane.admin(price_list_year=2020)
    body = control_plane.provision(admin, expect=403)
    assert "FY21" in body["error"]["message"] and "FY20" in body["error"]["message"]


def test_insufficient_cloud_tokens_names_the_amount_missing(control_plane: ControlPlane) -> None:
    admin = control_plane.admin(tokens=20)
    body = control_plane.provision(admin, expect=409, plan="S")  # text S costs 30
    assert body["error"]["code"] == "insufficient_cloud_tokens"
    assert body["error"]["details"] == {"required": 30, "available": 20, "missing": 10}
    assert "10 missing" in body["error"]["message"]


def test_preview_returns_the_specification_and_creates_nothing(control_plane: ControlPlane) -> None:
    admin = control_plane.admin(tokens=100)
    client = control_plane.client
    created_for = control_plane.colleague(admin)
    response = client.post(
        "/v1/resources/preview",
        headers=admin.headers,
        json=request_body(plan=None, cloud_tokens=16, created_for=created_for),
    )
    assert response.status_code == 200, response.text
    spec = response.json()
    assert (spec["cloud_tokens"], spec["genai_units_per_month"]) == (16, 1600)
    assert (spec["balance_before"], spec["balance_after"]) == (100, 84)
    assert spec["cross_region_inference"] is True  # on by default for text
    assert spec["default_model"] == "anthropic.claude-haiku-4-5"
    assert client.get("/v1/resources", headers=admin.headers).json() == []
    assert client.get("/v1/company", headers=admin.headers).json()["cloud_tokens"]["available"] == 100


def test_only_company_admins_provision(control_plane: ControlPlane) -> None:
    admin = control_plane.admin()
    member = control_plane.user(admin.company_id, "member@acme.example")
    body = control_plane.provision(member, expect=403)
    assert body["error"]["code"] == "forbidden"


def test_provisioning_allocates_tokens_and_writes_the_ledger(control_plane: ControlPlane) -> None:
    admin = control_plane.admin(tokens=100)
    text = control_plane.provision(
        admin,
        plan="M",
        models=["anthropic.claude-haiku-4-5", "anthropic.claude-sonnet-4-5"],
        default_model="anthropic.claude-sonnet-4-5",
    )
    assert (text["plan"], text["cloud_tokens"], text["genai_units_per_month"]) == ("M", 60, 6000)
    assert text["models"] == ["anthropic.claude-haiku-4-5", "anthropic.claude-sonnet-4-5"]
    assert text["activated_on"] == "2026-01-15"
    assert text["created_for"] == {"name": "Dana Dev", "email": "dana@acme.example"}
    tokens = control_plane.client.get("/v1/company/cloud-tokens", headers=admin.headers).json()
    assert (tokens["total"], tokens["consumed"], tokens["available"]) == (100, 60, 40)
    assert [(t["reason"], t["tokens"], t["remaining"], t["resource_id"]) for t in tokens["transactions"]] == [
        ("purchase", 100, 100, None),
        ("provisioned", -60, 40, text["id"]),
    ]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {"type": "embeddings", "models": ["embed-english-v3.0", "embed-multilingual-v3.0"], "plan": "S"},
            "exactly one",
        ),
        ({"models": ["anthropic.claude-haiku-4-5", "anthropic.claude-sonnet-4-5"]}, "default model"),
        ({"default_model": "anthropic.claude-sonnet-4-5"}, "default model"),
        (
            {"region": "ca-central-1", "models": ["anthropic.claude-opus-4-1"]},
            "not available in ca-central-1",
        ),
        ({"models": ["embed-english-v3.0"]}, "not a text model"),
        ({"plan": None, "cloud_tokens": 0}, "at least 1"),
        ({"plan": "S", "cloud_tokens": 5}, "either a plan"),
        ({"plan": "XL"}, "plan"),
    ],
)
def test_invalid_forms_are_precise_422s(
    control_plane: ControlPlane, fields: dict[str, Any], problem: str
) -> None:
    admin = control_plane.admin()
    body = control_plane.provision(admin, expect=422, **fields)
    assert problem in body["error"]["message"]


def test_a_knowledge_base_links_to_an_embeddings_resource_of_the_same_company_and_region(
    control_plane: ControlPlane,
) -> None:
    admin = control_plane.admin()
    other = control_plane.admin("Globex")
    embeddings = control_plane.embeddings(admin)
    foreign = control_plane.embeddings(other)
    kb = control_plane.knowledge_base(admin, embeddings["id"], display_name="Support")
    assert (kb["plan"], kb["cloud_tokens"], kb["genai_units_per_month"]) == ("Standard", 48, 0)
    assert kb["models"] == ["all-minilm-l6-v2"]
    assert control_plane.knowledge_base(admin, foreign["id"], expect=404)["error"]["code"] == "not_found"
    wrong_region = control_plane.knowledge_base(admin, embeddings["id"], region="ca-central-1", expect=422)
    assert "eu-central-1" in wrong_region["error"]["message"]
    unlinked = control_plane.provision(admin, type="knowledge_base", plan="Standard", expect=422)
    assert "linked" in unlinked["error"]["message"]
    settings = control_plane.client.get(
        f"/v1/resources/{embeddings['id']}/settings", headers=admin.headers
    ).json()
    assert settings["linked_knowledge_base_ids"] == [kb["id"]]


def test_overview_lists_the_company_resources_and_filters_by_type(control_plane: ControlPlane) -> None:
    admin = control_plane.admin()
    other = control_plane.admin("Globex")
    control_plane.embeddings(other)
    text = control_plane.provision(admin)
    embeddings = control_plane.embeddings(admin)
    client = control_plane.client
    listed = client.get("/v1/resources", headers=admin.headers).json()
    assert [r["id"] for r in listed] == [text["id"], embeddings["id"]]
    assert listed[0]["status_label"] == "Active"
    only = client.get("/v1/resources", params={"type": "embeddings"}, headers=admin.headers).json()
    assert [r["id"] for r in only] == [embeddings["id"]]
    assert client.get("/v1/resources", params={"type": "bogus"}, headers=admin.headers).status_code == 422


def test_settings_show_everything_the_portal_lists(control_plane: ControlPlane) -> None:
    admin = control_plane.admin()
    text = control_plane.provision(admin, plan=None, cloud_tokens=16)
    settings = control_plane.client.get(f"/v1/resources/{text['id']}/settings", headers=admin.headers).json()
    assert settings["company_name"] == "Acme"
    assert settings["regions"] == ["eu-central-1"]
    assert settings["cross_region_inference"] is True
    assert settings["cloud_provider"] == "AWS"
    assert settings["available_models"] == ["anthropic.claude-haiku-4-5"]  # the enabled ones
    assert "anthropic.claude-opus-4-1" in settings["region_models"]
    assert settings["genai_units_per_month"] == 1600
    assert settings["refill_on"] == "2026-02-15"
    assert settings["environment"] == "Test"


def test_a_foreign_resource_is_a_404(control_plane: ControlPlane) -> None:
    admin = control_plane.admin()
    other = control_plane.admin("Globex")
    theirs = control_plane.provision(other)  # for Dana Dev of Globex
    response = control_plane.client.get(f"/v1/resources/{theirs['id']}", headers=admin.headers)
    assert response.status_code == 404
