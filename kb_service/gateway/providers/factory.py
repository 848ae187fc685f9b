"""Build the text provider the settings name; SDKs are imported inside their branch only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Never

from kb_service.config import (
    AnthropicTextSettings,
    BedrockTextSettings,
    NoTextSettings,
    TextProviderSettings,
)
from kb_service.gateway.providers.base import ProviderNotConfigured, TextProvider

if TYPE_CHECKING:
    import httpx2


class DisabledTextProvider:
    """``KB_TEXT__PROVIDER=none``: every call raises `ProviderNotConfigured` naming the setting."""

    @property
    def name(self) -> str:
        return "none"

    def complete(self, request: object) -> Never:
        raise ProviderNotConfigured("none", "KB_TEXT__PROVIDER", "text generation is switched off")

    def stream(self, request: object) -> Never:
        raise ProviderNotConfigured("none", "KB_TEXT__PROVIDER", "text generation is switched off")


def build_text_provider(
    settings: TextProviderSettings, *, anthropic_http_client: httpx2.Client | None = None
) -> TextProvider:
    """The provider for `settings`; `anthropic_http_client` lets tests fake the Anthropic API.

    A missing key raises `ProviderNotConfigured` here, so a misconfigured process says so at start-up.
    """
    match settings:
        case AnthropicTextSettings():
            if settings.api_key is None or not settings.api_key.get_secret_value():
                raise ProviderNotConfigured("anthropic", "KB_TEXT__API_KEY")
            from kb_service.gateway.providers.anthropic import AnthropicTextProvider

            return AnthropicTextProvider(
                settings.api_key.get_secret_value(),
                base_url=settings.base_url,
                timeout=settings.timeout_s,
                max_retries=settings.max_retries,
                max_backoff_s=settings.max_backoff_s,
                http_client=anthropic_http_client,
            )
        case BedrockTextSettings():
            from kb_service.gateway.providers.bedrock import BedrockTextProvider

            return BedrockTextProvider(
                default_region=settings.region,
                access_key_id=settings.access_key_id,
                secret_access_key=_secret(settings.secret_access_key),
                session_token=_secret(settings.session_token),
                endpoint_url=settings.endpoint_url,
                timeout=settings.timeout_s,
                max_retries=settings.max_retries,
                max_backoff_s=settings.max_backoff_s,
            )
        case NoTextSettings():
            return DisabledTextProvider()
        case _:
            # mypy proves this unreachable for the declared settings: a new provider without a case
            # fails type checking.
            unknown: Never = settings
            raise ValueError(f"unknown text provider settings {type(unknown).__name__}")


def _secret(value: object) -> str | None:
    from pydantic import SecretStr

    return value.get_secret_value() if isinstance(value, SecretStr) else None
