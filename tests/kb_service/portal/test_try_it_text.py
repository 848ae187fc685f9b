"""The Try it tab of a text-generation resource with a configured provider (the Anthropic API faked
at the SDK's HTTP transport): the reply, the provider's own token counts, the GU at the model's
rates, and the call in the resource's consumption."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from tests.factories.controlplane import ControlPlane

# The gateway tests' Anthropic API faked at its HTTP transport, and the app wired to it.
from tests.kb_service.gateway.conftest import (  # noqa: F401 (fixtures)
    HAIKU,
    SONNET,
    FakeAnthropic,
    container,
    fake_anthropic,
    settings,
)
from tests.kb_service.portal.conftest import csrf_of, sign_in, with_password


def test_try_it_sends_the_prompt_and_shows_what_it_metered(
    client: TestClient,
    control_plane: ControlPlane,
    fake_anthropic: FakeAnthropic,  # noqa: F811 (the imported fixture)
) -> None:
    admin = with_password(control_plane, control_plane.admin())
    text = control_plane.provision(admin, models=[HAIKU, SONNET], default_model=SONNET)
    sign_in(client, admin.email)
    form = client.get(f"/portal/resources/{text['id']}/try").text
    assert f'<option value="{SONNET}" selected>Anthropic Claude Sonnet 4.5 (default)</option>' in form
    assert "data-try-not-configured" not in form
    answered = client.post(
        f"/portal/resources/{text['id']}/try",
        data={"csrf_token": csrf_of(form), "prompt": "Say hello", "model": HAIKU, "max_tokens": "64"},
    )
    assert answered.status_code == 200, answered.text
    sent = fake_anthropic.bodies[-1]
    assert sent["messages"] == [{"role": "user", "content": "Say hello"}] and sent["max_tokens"] == 64
    page = html.unescape(answered.text)
    assert re.search(r"data-try-reply>Hello there<", page)
    assert re.search(r"data-try-input-tokens>1,234<", page)  # the provider's own counts
    assert re.search(r"data-try-output-tokens>56<", page)
    units = 1234 * 35.81 / 1_000_000 + 56 * 179.07 / 1_000_000  # Haiku's rates
    assert re.search(rf"data-try-gu>{units:.4f}<", page)
    summary = client.get(f"/v1/resources/{text['id']}/consumption", headers=admin.headers).json()
    assert summary["used_genai_units"] == pytest.approx(units)
