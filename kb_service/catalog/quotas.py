"""The S/M/L plans' published monthly token quotas per model family (quotas.json: data, not code).

A plan's quota is what the product documents publish ("Claude 2.5M tokens in a month"); what the
service enforces is the plan's GenAI-unit allocation (`capacity.plans`). `genai_units` prices a quota
at a model's exchange rate, so the two can be shown side by side: every plan's allocation covers its
full quota on the dearest model of its family.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

from kb_service.catalog import ModelSpec


@dataclass(frozen=True, slots=True)
class TokenQuota:
    """One plan's tokens a month for one model family; output None when the family has no output."""

    plan: str
    input_tokens: int
    output_tokens: int | None

    def genai_units(self, model: ModelSpec) -> float:
        """What using the whole quota costs on `model`, at its GU rates."""
        return model.genai_units(self.input_tokens, self.output_tokens or 0)


@dataclass(frozen=True, slots=True)
class ModelFamily:
    id: str
    name: str
    resource_type: str
    kind: Literal["embeddings", "text"]
    quotas: tuple[TokenQuota, ...]

    def quota(self, plan: str | None) -> TokenQuota | None:
        return next((q for q in self.quotas if q.plan == plan), None)


@cache
def families() -> tuple[ModelFamily, ...]:
    raw = json.loads(resources.files(__package__).joinpath("quotas.json").read_text("utf-8"))
    return tuple(
        ModelFamily(
            id=entry["id"],
            name=entry["name"],
            resource_type=entry["resource_type"],
            kind=entry["kind"],
            quotas=tuple(
                TokenQuota(plan, q["input_tokens"], q["output_tokens"]) for plan, q in entry["quotas"].items()
            ),
        )
        for entry in raw["families"]
    )


def family_of(resource_type: str) -> ModelFamily | None:
    """The model family whose quotas a resource type's plans carry; None for a knowledge base."""
    return next((f for f in families() if f.resource_type == resource_type), None)


def plan_quota(resource_type: str, plan: str | None) -> tuple[ModelFamily, TokenQuota] | None:
    """The published quota of a resource's plan; None for a Cloud Token amount or a KB."""
    family = family_of(resource_type)
    quota = family.quota(plan) if family is not None else None
    return (family, quota) if family is not None and quota is not None else None
