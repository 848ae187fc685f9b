"""What this deployment can call, read from the settings: the catalog `Offer` (embeddings models
whose provider has no credentials are not offered) and whether text generation is configured.

Text models stay provisionable without a text provider — capacity is bought and keys are made in
the control plane on its own — but every surface says so first: the provision form shows
`text_provider_missing`, and text calls answer 503 ``provider_not_configured`` naming the setting.
"""

from __future__ import annotations

from kb_service.catalog import Offer
from kb_service.config import AnthropicTextSettings, BedrockTextSettings, NoTextSettings, Settings

COHERE_KEY_SETTING = "KB_COHERE__API_KEY"


def model_offer(settings: Settings) -> Offer:
    refused: dict[str, str] = {}
    key = settings.cohere.api_key
    if key is None or not key.get_secret_value():
        refused["cohere"] = COHERE_KEY_SETTING
    return Offer(refused)


def text_provider_missing(settings: Settings) -> str | None:
    """The setting an operator must set before text calls work; None when a provider is set up.

    Bedrock may take its credentials from the instance role, so only its presence is checked."""
    match settings.text:
        case NoTextSettings():
            return "KB_TEXT__PROVIDER"
        case AnthropicTextSettings(api_key=key) if key is None or not key.get_secret_value():
            return "KB_TEXT__API_KEY"
        case AnthropicTextSettings() | BedrockTextSettings():
            return None
