"""build_embedder maps every catalog provider; EmbedderRegistry builds each model once per process."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from kb_service.catalog import ModelSpec, UnknownModelError, all_models, embedding_models, get_model
from kb_service.config import CohereSettings, LocalEmbedderSettings, Settings
from kb_service.embedders.base import Embedder
from kb_service.embedders.cohere import CohereEmbedder
from kb_service.embedders.factory import EmbedderRegistry, build_embedder, warm_up
from kb_service.embedders.onnx import OnnxEmbedder

# The bundled model runs on ONNX Runtime by default (torch: runtime="torch", see test_onnx.py).
EXPECTED_CLASS = {"local": OnnxEmbedder, "cohere": CohereEmbedder}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        cohere=CohereSettings(api_key=SecretStr("factory-test-key")),
        local_embedder=LocalEmbedderSettings(batch_size=8),
    )


@pytest.mark.parametrize("spec", embedding_models(), ids=lambda spec: spec.id)
def test_every_catalog_embedding_model_builds_the_embedder_of_its_provider(
    spec: ModelSpec, settings: Settings
) -> None:
    embedder = build_embedder(spec, settings)
    assert type(embedder) is EXPECTED_CLASS[spec.provider]
    assert isinstance(embedder, Embedder)
    assert (embedder.model_id, embedder.dimension, embedder.max_tokens) == (
        spec.id,
        spec.dimension,
        spec.max_tokens,
    )


def test_catalog_has_no_embedding_provider_without_an_embedder() -> None:
    assert {spec.provider for spec in embedding_models()} <= EXPECTED_CLASS.keys()


@pytest.mark.parametrize("model_id", [m.id for m in all_models().values() if m.provider == "anthropic"])
def test_anthropic_models_are_refused(model_id: str, settings: Settings) -> None:
    with pytest.raises(ValueError, match="not an embeddings model"):
        build_embedder(get_model(model_id), settings)


def test_an_anthropic_provider_is_refused_even_when_labelled_embeddings(settings: Settings) -> None:
    spec = dataclasses.replace(get_model("embed-english-v3.0"), provider="anthropic")
    with pytest.raises(ValueError, match="Anthropic models do not produce embeddings"):
        build_embedder(spec, settings)


def test_an_unknown_provider_is_refused(settings: Settings) -> None:
    spec = dataclasses.replace(get_model("embed-english-v3.0"), provider="openai")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown embeddings provider 'openai'"):
        build_embedder(spec, settings)


def test_http_client_is_handed_to_cohere(settings: Settings) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json={"id": "r", "embeddings": {"float": [[1.0] + [0.0] * 383]}, "meta": {}}
        )

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        embedder = build_embedder(get_model("embed-english-light-v3.0"), settings, http_client=client)
        embedder.embed(["hello"], "search_query")
    assert len(seen) == 1
    assert seen[0].headers["authorization"] == "Bearer factory-test-key"


def test_registry_returns_the_same_embedder_for_a_model_id(settings: Settings) -> None:
    registry = EmbedderRegistry(settings)
    local = registry.get("all-minilm-l6-v2")
    cohere = registry.get("embed-english-v3.0")
    assert registry.get("all-minilm-l6-v2") is local
    assert registry.get("embed-english-v3.0") is cohere
    assert local is not cohere


def test_registries_do_not_share_their_caches(settings: Settings) -> None:
    assert EmbedderRegistry(settings).get("embed-english-v3.0") is not EmbedderRegistry(settings).get(
        "embed-english-v3.0"
    )


def test_registry_builds_one_embedder_when_threads_race(settings: Settings) -> None:
    registry = EmbedderRegistry(settings)
    start = threading.Barrier(8)

    def get() -> Embedder:
        start.wait()
        return registry.get("embed-multilingual-v3.0")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: get(), range(8)))
    assert all(r is results[0] for r in results)


def test_registry_raises_for_unknown_model_ids(settings: Settings) -> None:
    with pytest.raises(UnknownModelError):
        EmbedderRegistry(settings).get("no-such-model")


def test_registry_refuses_text_models(settings: Settings) -> None:
    with pytest.raises(ValueError, match="not an embeddings model"):
        EmbedderRegistry(settings).get("anthropic.claude-haiku-4-5")


def test_warm_up_loads_the_default_local_model(settings: Settings) -> None:
    registry = EmbedderRegistry(settings)
    with capture_logs() as logs:
        warm_up(registry, settings)
    assert [e["event"] for e in logs if e["event"].startswith("embedders.warm")] == ["embedders.warmed_up"]
    assert registry.get("all-minilm-l6-v2").embed(["hello"], "search_query").vectors.shape == (1, 384)


def test_warm_up_of_a_cohere_default_spends_no_api_call() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500)

    settings = Settings(
        default_embedding_model="embed-english-v3.0", cohere=CohereSettings(api_key=SecretStr("k"))
    )
    with httpx.Client(transport=httpx.MockTransport(handler)) as client, capture_logs() as logs:
        warm_up(EmbedderRegistry(settings, http_client=client), settings)
    assert seen == []
    assert "embedders.warmed_up" in [e["event"] for e in logs]


def test_warm_up_failure_is_logged_not_raised() -> None:
    settings = Settings(default_embedding_model="no-such-model")
    with capture_logs() as logs:
        warm_up(EmbedderRegistry(settings), settings)
    assert "embedders.warm_up_failed" in [e["event"] for e in logs]
