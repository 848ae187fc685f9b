"""The models enabled on a resource (issue 13): settings list them as `available_models` (the
catalog's region list is `region_models`), and a company admin changes them after provisioning —
models of the resource's region only, the default among them, an embeddings resource's model only
while no knowledge base depends on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kb_service.config import Settings
from tests.factories.controlplane import ControlPlane, TestUser

HAIKU = "anthropic.claude-haiku-4-5"
SONNET = "anthropic.claude-sonnet-4-5"
OPUS = "anthropic.claude-opus-4-1"  # eu-central-1 only


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], db_url: str) -> Settings:
    """Cohere configured, so a second embeddings model is offered (nothing here calls Cohere)."""
    return settings_factory(database_url=db_url, cohere={"api_key": "tests-offer-cohere-models"})


def _models(cp: ControlPlane, user: TestUser, resource_id: str, **body: Any) -> Any:
    return cp.client.put(f"/v1/resources/{resource_id}/models", headers=user.headers, json=body)


def _settings(cp: ControlPlane, user: TestUser, resource_id: str) -> dict[str, Any]:
    response = cp.client.get(f"/v1/resources/{resource_id}/settings", headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_settings_list_the_enabled_models_and_the_region_separately(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    text = cp.provision(admin, models=[HAIKU])
    settings = _settings(cp, admin, text["id"])
    assert settings["available_models"] == [HAIKU]
    assert {HAIKU, SONNET, OPUS} <= set(settings["region_models"])


def test_an_admin_enables_other_models_and_the_default_stays_among_them(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    text = cp.provision(admin, models=[HAIKU])
    changed = _models(cp, admin, text["id"], models=[HAIKU, SONNET])
    assert changed.status_code == 200, changed.text
    assert (changed.json()["models"], changed.json()["default_model"]) == ([HAIKU, SONNET], HAIKU)
    assert _settings(cp, admin, text["id"])["available_models"] == [HAIKU, SONNET]

    # Dropping the default needs a new one among the enabled.
    refused = _models(cp, admin, text["id"], models=[SONNET, OPUS])
    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["field"] == "default_model"
    moved = _models(cp, admin, text["id"], models=[SONNET, OPUS], default_model=OPUS)
    assert (moved.json()["models"], moved.json()["default_model"]) == ([OPUS, SONNET], OPUS)
    bad_default = _models(cp, admin, text["id"], models=[SONNET], default_model=HAIKU)
    assert bad_default.status_code == 422
    single = _models(cp, admin, text["id"], models=[HAIKU])
    assert single.json()["default_model"] == HAIKU  # the only one


def test_only_models_of_the_resources_region_and_kind(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    text = cp.provision(admin, region="ca-central-1", models=[HAIKU])
    for models, phrase in (
        ([HAIKU, OPUS], "not available in ca-central-1"),
        (["all-minilm-l6-v2"], "is not a text model"),
        (["no-such-model"], "Unknown model"),
    ):
        refused = _models(cp, admin, text["id"], models=models)
        assert refused.status_code == 422, models
        assert phrase in refused.json()["error"]["message"]
    assert _settings(cp, admin, text["id"])["available_models"] == [HAIKU]


def test_only_company_admins_change_the_enabled_models(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    dana = cp.user(admin.company_id, "dana@acme.example")
    text = cp.provision(admin)  # Dana Dev joins its team
    refused = _models(cp, dana, text["id"], models=[HAIKU, SONNET])
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["permission"] == "change_models"
    outsider = cp.admin("Globex")
    assert _models(cp, outsider, text["id"], models=[HAIKU]).status_code == 404


def test_an_embeddings_model_changes_only_while_no_kb_depends_on_it(control_plane: ControlPlane) -> None:
    cp = control_plane
    admin = cp.admin()
    embeddings = cp.embeddings(admin)
    kb = cp.knowledge_base(admin, embeddings["id"], display_name="Tickets")
    refused = _models(cp, admin, embeddings["id"], models=["embed-english-v3.0"])
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["details"]["knowledge_base_ids"] == [kb["id"]]
    assert "Tickets" in error["message"]
    assert (
        _models(cp, admin, embeddings["id"], models=["all-minilm-l6-v2", "embed-english-v3.0"]).status_code
        == 422
    )
    assert _models(cp, admin, kb["id"], models=["all-minilm-l6-v2"]).status_code == 422

    free = cp.embeddings(admin, display_name="Spare")
    changed = _models(cp, admin, free["id"], models=["embed-english-v3.0"])
    assert changed.status_code == 200, changed.text
    assert changed.json()["models"] == ["embed-english-v3.0"]
    assert _settings(cp, admin, free["id"])["available_models"] == ["embed-english-v3.0"]
