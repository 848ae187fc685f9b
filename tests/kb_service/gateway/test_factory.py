"""Settings parse by provider, and the factory builds (lazily) what they name."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from kb_service.config import (
    AnthropicTextSettings,
    BedrockTextSettings,
    NoTextSettings,
    TextProviderSettings,
)
from kb_service.gateway.providers.anthropic import AnthropicTextProvider
from kb_service.gateway.providers.base import ChatMessage, ProviderNotConfigured, TextProvider, TextRequest
from kb_service.gateway.providers.bedrock import BedrockTextProvider
from kb_service.gateway.providers.factory import DisabledTextProvider, build_text_provider

ADAPTER: TypeAdapter[TextProviderSettings] = TypeAdapter(TextProviderSettings)
REQUEST = TextRequest("anthropic.claude-haiku-4-5", (ChatMessage("user", "hi"),), max_tokens=5)


def test_settings_are_discriminated_by_provider() -> None:
    anthropic = ADAPTER.validate_python({"provider": "anthropic", "api_key": "sk-1"})
    assert isinstance(anthropic, AnthropicTextSettings)
    assert "sk-1" not in repr(anthropic)
    assert isinstance(
        ADAPTER.validate_python({"provider": "bedrock", "region": "ca-central-1"}), BedrockTextSettings
    )
    assert isinstance(ADAPTER.validate_python({"provider": "none"}), NoTextSettings)


def test_builds_each_provider_without_loading_or_calling_anything() -> None:
    anthropic = build_text_provider(AnthropicTextSettings(provider="anthropic", api_key="sk-1"))
    bedrock = build_text_provider(
        BedrockTextSettings(provider="bedrock", access_key_id="AKID", secret_access_key="s")
    )

    assert isinstance(anthropic, AnthropicTextProvider)
    assert isinstance(bedrock, BedrockTextProvider)
    for provider in (anthropic, bedrock):
        assert isinstance(provider, TextProvider)


def test_anthropic_without_a_key_names_the_setting() -> None:
    with pytest.raises(ProviderNotConfigured) as caught:
        build_text_provider(AnthropicTextSettings(provider="anthropic"))
    assert caught.value.setting_name == "KB_TEXT__API_KEY"


def test_provider_none_refuses_every_call_naming_the_setting() -> None:
    provider = build_text_provider(ADAPTER.validate_python({"provider": "none"}))

    assert isinstance(provider, DisabledTextProvider)
    with pytest.raises(ProviderNotConfigured) as caught:
        provider.complete(REQUEST)
    assert caught.value.setting_name == "KB_TEXT__PROVIDER"
