"""The gateway follows the models enabled on a resource after they change (issue 13): a disabled
model is a 400 before any provider call, a newly enabled one is called, `/v1/models` lists them."""

from __future__ import annotations

from tests.factories.controlplane import ControlPlane
from tests.kb_service.gateway.conftest import HAIKU, SONNET, FakeAnthropic, provision_text

HI = [{"role": "user", "content": "Hi"}]


def test_disabling_and_enabling_models_takes_effect_on_the_gateway(
    control_plane: ControlPlane, fake_anthropic: FakeAnthropic
) -> None:
    cp = control_plane
    text = provision_text(cp, models=[HAIKU, SONNET], default_model=HAIKU)
    app = {"Authorization": f"Bearer {text.key}"}
    assert (
        cp.client.post(
            "/v1/chat/completions", headers=app, json={"model": SONNET, "messages": HI}
        ).status_code
        == 200
    )
    calls = len(fake_anthropic.bodies)

    changed = cp.client.put(
        f"/v1/resources/{text.resource_id}/models", headers=text.admin.headers, json={"models": [HAIKU]}
    )
    assert changed.status_code == 200, changed.text

    refused = cp.client.post("/v1/chat/completions", headers=app, json={"model": SONNET, "messages": HI})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["details"]["enabled_models"] == [HAIKU]
    assert len(fake_anthropic.bodies) == calls  # refused before any provider call
    listed = cp.client.get("/v1/models", headers=app).json()
    assert [m["id"] for m in listed["data"]] == [HAIKU]

    cp.client.put(
        f"/v1/resources/{text.resource_id}/models",
        headers=text.admin.headers,
        json={"models": [HAIKU, SONNET], "default_model": SONNET},
    )
    called = cp.client.post("/v1/chat/completions", headers=app, json={"messages": HI, "max_tokens": 10})
    assert called.status_code == 200, called.text
    assert called.json()["model"] == SONNET  # the new default
