"""`kb-service serve` warms what the first calls would otherwise wait for, in the background."""

from __future__ import annotations

from pathlib import Path

import httpx2

from kb_service.cli.serve import _warm_up
from kb_service.config import AnthropicTextSettings, Settings
from kb_service.container import Container
from kb_service.embedders.factory import EmbedderRegistry
from tests.factories.containers import container_with_fake_anthropic


def _container(embedders: EmbedderRegistry, settings: Settings) -> tuple[Container, list[httpx2.Request]]:
    """A container whose Anthropic SDK reaches a transport that records every request."""
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(500)

    return container_with_fake_anthropic(settings, embedders, handler), seen


def test_warm_up_builds_a_configured_text_provider_without_calling_it(
    tmp_path: Path, embedders: EmbedderRegistry
) -> None:
    text = AnthropicTextSettings(provider="anthropic", api_key="sk-warm", base_url="http://anthropic.test")
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 's.db'}", text=text)
    container, seen = _container(embedders, settings)
    try:
        _warm_up(container)
        assert container._text_provider is not None
        assert seen == []
    finally:
        container.close()


def test_warm_up_without_a_text_provider_builds_none(tmp_path: Path, embedders: EmbedderRegistry) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 's.db'}")
    container, _ = _container(embedders, settings)
    try:
        _warm_up(container)
        assert container._text_provider is None
    finally:
        container.close()
