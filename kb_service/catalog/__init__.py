"""The model catalog: which models exist, their dimensions, windows, regions and GU rates.

Rates live in models.json (data, not code); this module only loads and looks them up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Literal


@dataclass(frozen=True, slots=True)
class ModelSpec:
    id: str
    kind: Literal["embeddings", "text"]
    provider: Literal["local", "cohere", "anthropic"]
    display_name: str
    dimension: int | None
    max_tokens: int | None
    gu_per_m_input: float
    gu_per_m_output: float | None
    regions: tuple[str, ...]

    def genai_units(self, input_tokens: int, output_tokens: int = 0) -> float:
        """GU consumed by these tokens at this model's exchange rate."""
        units = input_tokens * self.gu_per_m_input / 1_000_000
        if output_tokens and self.gu_per_m_output is not None:
            units += output_tokens * self.gu_per_m_output / 1_000_000
        return units


class UnknownModelError(LookupError):
    pass


@cache
def all_models() -> dict[str, ModelSpec]:
    raw = json.loads(resources.files(__package__).joinpath("models.json").read_text("utf-8"))
    specs = {}
    for entry in raw["models"]:
        entry["regions"] = tuple(entry["regions"])
        specs[entry["id"]] = ModelSpec(**entry)
    return specs


def get_model(model_id: str) -> ModelSpec:
    try:
        return all_models()[model_id]
    except KeyError:
        raise UnknownModelError(model_id) from None


def embedding_models() -> list[ModelSpec]:
    return [m for m in all_models().values() if m.kind == "embeddings"]


@dataclass(frozen=True, slots=True)
class Offer:
    """Which catalog providers this deployment can call: `refused` maps a provider that is not
    configured to the setting that would enable it (e.g. ``{"cohere": "KB_COHERE__API_KEY"}``).

    Built from the settings by the caller (`kb_service.gateway.availability.model_offer`), so the
    catalog and the provisioning rules stay pure."""

    refused: Mapping[str, str] = field(default_factory=dict)

    def offers(self, model: ModelSpec) -> bool:
        return model.provider not in self.refused

    def setting_for(self, model: ModelSpec) -> str | None:
        """The setting to set before `model` can be called; None when it can be."""
        return self.refused.get(model.provider)

    def models(self) -> list[ModelSpec]:
        return [m for m in all_models().values() if self.offers(m)]


EVERYTHING = Offer()
