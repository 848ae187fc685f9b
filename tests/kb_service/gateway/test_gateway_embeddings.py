"""`/v1/embeddings` with the official `openai` client: the embedded default's vectors are the KB
pipeline's, tokens land in the consumption CSV; Cohere (faked at its httpx transport) is called with
at most 96 texts per call; a Cohere model is not offered without a Cohere key."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from kb_service.auth.principals import Principal
from kb_service.catalog import get_model
from kb_service.clock import SystemClock
from kb_service.config import Settings
from kb_service.container import Container
from kb_service.embedders.base import EmbeddingCall, Embeddings
from kb_service.embedders.factory import EmbedderRegistry
from kb_service.errors import NotFound
from kb_service.gateway.errors import ProviderNotConfiguredError
from kb_service.gateway.providers.base import ChatMessage
from kb_service.gateway.service import TextCall
from kb_service.migrations import upgrade
from kb_service.queue.outbox import RecordingDispatcher
from kb_service.services import unit_of_work
from tests.factories.controlplane import ControlPlane
from tests.kb_service.gateway.conftest import LiveServer, Provisioned, consumption, new_key

MINILM = "all-minilm-l6-v2"
# No `model`: the resource's model (the SDK's types insist on one).
NO_MODEL: Any = openai.omit
TEXTS = ["The quick brown fox jumps over the lazy dog.", "Refunds are processed within 14 days."]


def _embeddings(cp: ControlPlane) -> Provisioned:
    admin = cp.admin()
    resource = cp.embeddings(admin)
    return Provisioned(resource["id"], new_key(cp, resource["id"]), admin)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_embedded_default_returns_the_kb_pipelines_vectors_and_meters_them(
    control_plane: ControlPlane,
    server: LiveServer,
    client: TestClient,
    container: Container,
    encoding_format: Any,
) -> None:
    resource = _embeddings(control_plane)

    answer = server.openai(resource.key).embeddings.create(
        model=MINILM,
        input=TEXTS,
        encoding_format=encoding_format,
        extra_body={"input_type": "search_document"},
    )

    pipeline = container.embedders.get(MINILM).embed(TEXTS, "search_document")
    assert [d.index for d in answer.data] == [0, 1]
    for row, expected in zip(answer.data, pipeline.vectors, strict=True):
        got = (
            np.frombuffer(base64.b64decode(row.embedding), dtype="<f4")
            if isinstance(row.embedding, str)
            else np.asarray(row.embedding, dtype=np.float32)
        )
        assert _cosine(got, expected) >= 0.9999
    assert answer.usage.prompt_tokens == pipeline.input_tokens == answer.usage.total_tokens
    days, csv = consumption(client, resource)
    assert [(d["input_tokens"], d["output_tokens"], d["api_calls"]) for d in days] == [
        (pipeline.input_tokens, 0, 1)
    ]
    assert days[0]["genai_units"] == pytest.approx(get_model(MINILM).genai_units(pipeline.input_tokens))
    assert f"{days[0]['date']},{pipeline.input_tokens},0" in csv.splitlines()


def test_input_type_and_a_single_string_and_the_default_model(
    control_plane: ControlPlane, server: LiveServer, container: Container
) -> None:
    resource = _embeddings(control_plane)
    api = server.openai(resource.key)

    query = api.embeddings.create(
        model=NO_MODEL, input=TEXTS[1], encoding_format="float", extra_body={"input_type": "search_query"}
    )

    expected = container.embedders.get(MINILM).embed([TEXTS[1]], "search_query").vectors[0]
    assert query.model == MINILM and len(query.data) == 1
    assert _cosine(np.asarray(query.data[0].embedding, dtype=np.float32), expected) >= 0.9999
    with pytest.raises(openai.BadRequestError) as wrong:
        api.embeddings.create(model="embed-english-v3.0", input="x")
    assert MINILM in wrong.value.message
    with pytest.raises(openai.UnprocessableEntityError):
        api.embeddings.create(model=MINILM, input=["ok", "  "])


def test_the_embeddings_key_paired_with_a_kb_key_embeds_and_the_kb_key_does_not(
    control_plane: ControlPlane, server: LiveServer
) -> None:
    cp = control_plane
    admin = cp.admin()
    embeddings = cp.embeddings(admin)
    kb = cp.knowledge_base(admin, embeddings["id"])
    with unit_of_work(cp.container, cp.clock) as services:
        issued = services.keys.create(kb["id"], "app")
    assert issued.paired is not None

    paired = server.openai(issued.paired.secret).embeddings.create(model=MINILM, input="hello")
    with pytest.raises(openai.NotFoundError):
        server.openai(issued.secret).embeddings.create(model=MINILM, input="hello")
    with pytest.raises(openai.NotFoundError):
        server.openai(issued.secret).models.list()

    assert len(paired.data) == 1
    assert [m.id for m in server.openai(issued.paired.secret).models.list().data] == [MINILM]


def test_exhausted_embeddings_resource_is_refused_before_embedding(
    control_plane: ControlPlane, server: LiveServer
) -> None:
    resource = _embeddings(control_plane)
    with unit_of_work(control_plane.container, control_plane.clock) as services:
        embedder = services.container.embedders.get(MINILM)
        big = embedder.embed(["warm"], "search_document")
        services.metering.record_embeddings(
            embeddings_resource_id=resource.resource_id,
            model_id=MINILM,
            embeddings=Embeddings(big.vectors, (EmbeddingCall(10**9),)),
            source="test",
            reference_id=None,
        )

    with pytest.raises(openai.RateLimitError) as refused:
        server.openai(resource.key).embeddings.create(model=MINILM, input="hello")

    assert isinstance(refused.value.body, dict) and refused.value.body["code"] == "capacity_exhausted"


class FakeCohere:
    """Cohere's v2 embed endpoint at the SDK's httpx transport: one row per text, billed tokens."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        texts = body["texts"]
        self.batches.append(len(texts))
        floats = [[1.0] + [0.0] * 1023 for _ in texts]
        return httpx.Response(
            200,
            json={
                "id": "e",
                "embeddings": {"float": floats},
                "texts": texts,
                "meta": {"billed_units": {"input_tokens": 3 * len(texts)}},
                "response_type": "embeddings_by_type",
            },
        )


def test_cohere_is_called_with_at_most_96_texts_and_meters_its_billed_units(settings: Settings) -> None:
    fake = FakeCohere()
    cohere_settings = settings.model_copy(
        update={"cohere": settings.cohere.model_copy(update={"api_key": SecretStr("co")})}
    )
    transport = httpx.Client(transport=httpx.MockTransport(fake))
    container = Container.build(
        cohere_settings,
        dispatcher=RecordingDispatcher(),
        embedders=EmbedderRegistry(cohere_settings, http_client=transport),
    )
    upgrade(container.engine)
    try:
        with unit_of_work(container, _clock()) as services:
            resource = services.resources.create_embeddings_resource("Cohere", "embed-english-v3.0")
            key = services.keys.create(resource.id, "app").key
        with unit_of_work(container, _clock()) as services:
            result = services.gateway.embed(
                Principal(key.id, resource.id), [f"text {i}" for i in range(200)], None, "search_query"
            )
            events = services.usage_repository.daily_totals(resource.id, _day(), _day(1))
    finally:
        container.close()
        transport.close()

    assert fake.batches == [96, 96, 8]
    assert (result.input_tokens, result.api_calls, result.vectors.shape) == (600, 3, (200, 1024))
    assert [(i, o, c) for _d, i, o, c, _g in events] == [(600, 0, 3)]


def test_a_cohere_resource_without_a_cohere_key_is_503_naming_the_setting(container: Container) -> None:
    with unit_of_work(container, _clock()) as services:
        resource = services.resources.create_embeddings_resource("Cohere", "embed-english-v3.0")
        key = services.keys.create(resource.id, "app").key
        with pytest.raises(ProviderNotConfiguredError) as refused:
            services.gateway.embed(Principal(key.id, resource.id), ["x"], None, "search_document")
        with pytest.raises(NotFound):
            services.gateway.complete(Principal(key.id, resource.id), _call())
    assert refused.value.details == {"setting": "KB_COHERE__API_KEY"}


def test_provisioning_refuses_cohere_models_without_a_cohere_key(control_plane: ControlPlane) -> None:
    admin = control_plane.admin()

    body = control_plane.provision(
        admin, expect=422, type="embeddings", models=["embed-english-v3.0"], plan=None, cloud_tokens=6
    )

    assert body["error"]["details"] == {"field": "models", "setting": "KB_COHERE__API_KEY"}
    assert "KB_COHERE__API_KEY" in body["error"]["message"]


def _clock() -> SystemClock:
    return SystemClock()


def _day(offset: int = 0) -> date:
    return datetime.now(UTC).date() + timedelta(days=offset)


def _call() -> TextCall:
    return TextCall(None, (ChatMessage("user", "hi"),), 5)
