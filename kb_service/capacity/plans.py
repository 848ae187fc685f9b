"""Sizes and prices of resources, from PRODUCT.md: plan presets (S/M/L, KB "Standard") or a Cloud
Token amount. 1 Cloud Token buys 100 GenAI units (GU) per month; every resource costs at least 1.

Plan-era resources get the GU of the tokens they cost, so one allocation rule (tokens x 100) governs
consumption, enforcement and the ledger for both eras.
"""

from __future__ import annotations

from types import MappingProxyType

from kb_service.errors import InvalidInput
from kb_service.resources.models import ResourceType

GU_PER_TOKEN = 100
MIN_TOKENS = 1
KB_PLAN = "Standard"

PLAN_PRICES: MappingProxyType[str, MappingProxyType[str, int]] = MappingProxyType(
    {
        ResourceType.TEXT_GENERATION: MappingProxyType({"S": 30, "M": 60, "L": 120}),
        ResourceType.EMBEDDINGS: MappingProxyType({"S": 6, "M": 12, "L": 24}),
        ResourceType.KNOWLEDGE_BASE: MappingProxyType({KB_PLAN: 48}),
    }
)


def plan_tokens(resource_type: str, plan: str) -> int:
    prices = PLAN_PRICES[resource_type]
    if plan not in prices:
        raise InvalidInput(
            f"Unknown plan {plan!r} for {resource_type}; choose one of {', '.join(prices)}.",
            details={"field": "size"},
        )
    return prices[plan]


def resolve_size(resource_type: str, plan: str | None, tokens: int | None) -> tuple[str | None, int]:
    """(plan, Cloud Tokens per month) of a requested size: a preset or an amount, never both."""
    if resource_type == ResourceType.KNOWLEDGE_BASE:
        if tokens is not None or plan not in (None, KB_PLAN):
            raise InvalidInput(
                f'Knowledge bases have no capacity; their plan is "{KB_PLAN}".', details={"field": "size"}
            )
        return KB_PLAN, plan_tokens(resource_type, KB_PLAN)
    if (plan is None) == (tokens is None):
        raise InvalidInput(
            "Give a size: either a plan (S, M or L) or a Cloud Token amount.", details={"field": "size"}
        )
    if plan is not None:
        return plan, plan_tokens(resource_type, plan)
    assert tokens is not None
    if tokens < MIN_TOKENS:
        raise InvalidInput(
            f"A resource needs at least {MIN_TOKENS} Cloud Token per month.", details={"field": "size"}
        )
    return None, tokens


def allocation_gu(resource_type: str, tokens: int) -> int:
    """GU per bundle month; a KB has none of its own (its uploads meter on its embeddings resource)."""
    return 0 if resource_type == ResourceType.KNOWLEDGE_BASE else tokens * GU_PER_TOKEN
