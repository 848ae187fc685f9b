"""Never offer a model whose provider is not configured: on the embedded default (no Cohere key, no
text provider) the provision form lists no Cohere model and says text calls will be refused first."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from kb_service.config import Settings
from tests.factories.controlplane import ControlPlane
from tests.kb_service.portal.conftest import sign_in, with_password


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], db_url: str) -> Settings:
    return settings_factory(database_url=db_url)  # the embedded default: text provider "none"


def test_provision_form_offers_no_cohere_model_and_warns_about_text(
    client: TestClient, control_plane: ControlPlane
) -> None:
    admin = with_password(control_plane, control_plane.admin())
    sign_in(client, admin.email)

    page = client.get("/portal/control/provision?type=text_generation").text

    assert "all-minilm-l6-v2" in page and "anthropic.claude-haiku-4-5" in page
    assert "embed-english-v3.0" not in page and "embed-multilingual" not in page
    assert "KB_TEXT__PROVIDER" in page and "503" in page
