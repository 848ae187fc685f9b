"""Catalog model id → provider model name, from model_ids.json (data, not code).

The catalog names a model once (``anthropic.claude-sonnet-4-5``); each provider calls it by its own
name. Bedrock additionally routes through a cross-region inference profile when the calling
resource has CRI on: the profile id is the base id behind the geography prefix of its region.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any, Literal

from kb_service.gateway.providers.base import ProviderRejected

ProviderName = Literal["anthropic", "bedrock"]


@cache
def _mapping() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(
        resources.files(__package__).joinpath("model_ids.json").read_text("utf-8")
    )
    return raw


def provider_model_id(provider: ProviderName, model_id: str) -> str:
    """The provider's name for catalog `model_id`; `ProviderRejected` when it has none."""
    names: dict[str, str] | None = _mapping()["models"].get(model_id)
    if names is None or provider not in names:
        raise ProviderRejected(provider, f"model {model_id!r} is not available from this provider")
    return names[provider]


def bedrock_model_id(model_id: str, region: str, *, cross_region_inference: bool) -> str:
    """The Bedrock modelId for a call from `region`: the base id, or its inference profile with CRI."""
    base = provider_model_id("bedrock", model_id)
    if not cross_region_inference:
        return base
    prefixes: dict[str, str] = _mapping()["bedrock_profile_prefixes"]
    for region_prefix, profile_prefix in prefixes.items():
        if region.startswith(region_prefix):
            return profile_prefix + base
    raise ProviderRejected("bedrock", f"no cross-region inference profile is known for region {region!r}")
