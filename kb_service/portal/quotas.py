"""The S/M/L plans' token quotas beside their GU allocation, as the portal's pages show them.

The figures come from the catalog (`catalog/quotas.json`) and the plan prices (`capacity.plans`);
this module only arranges them for `plan_quotas.html`. The templates reach the two functions as the
Jinja globals `plan_quota_table()` and `resource_plan_quota(resource)` (registered in `web.py`), so
the provision form, the Settings tab and the Consumption tab need no context of their own for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from kb_service.capacity.plans import GU_PER_TOKEN, PLAN_PRICES
from kb_service.catalog import all_models
from kb_service.catalog.quotas import ModelFamily, TokenQuota, families, plan_quota
from kb_service.portal.formatting import compact, thousands
from schemas.resources import ResourceOut


@dataclass(frozen=True, slots=True)
class PlanColumn:
    """One plan of one family: its published quota, its price and the GU it is allocated."""

    plan: str
    quota: TokenQuota
    cloud_tokens: int
    allocation_gu: int
    # The most the whole quota costs on any model of the family, at the catalog's rates.
    quota_gu_at_most: float

    @property
    def input_text(self) -> str:
        return tokens_count(self.quota.input_tokens)

    @property
    def output_text(self) -> str:
        return tokens_count(self.quota.output_tokens) if self.quota.output_tokens is not None else "—"


@dataclass(frozen=True, slots=True)
class FamilyTable:
    family: ModelFamily
    columns: tuple[PlanColumn, ...]

    @property
    def has_output(self) -> bool:
        return any(c.quota.output_tokens is not None for c in self.columns)


@dataclass(frozen=True, slots=True)
class ResourceQuota:
    """A resource's plan quota in words, for its Settings and Consumption tabs."""

    family: str
    plan: str
    tokens: str  # "2.5M input and 1.25M output tokens a month"
    allocation: str  # "3,000 GU a month"
    covers: str  # "the whole quota costs at most 1,567 GU (Anthropic Claude Opus 4.1)"


def _dearest(family: ModelFamily, quota: TokenQuota) -> tuple[float, str]:
    models = [m for m in all_models().values() if m.kind == family.kind]
    if family.kind == "text":
        models = [m for m in models if m.provider == "anthropic"]
    priced = [(quota.genai_units(m), m.display_name) for m in models]
    return max(priced) if priced else (0.0, "")


def plan_quota_table() -> list[FamilyTable]:
    """Every family's S/M/L quotas beside each plan's Cloud Tokens and GU (the provision form)."""
    tables = []
    for family in families():
        prices = PLAN_PRICES[family.resource_type]
        columns = tuple(
            PlanColumn(
                q.plan,
                q,
                prices[q.plan],
                prices[q.plan] * GU_PER_TOKEN,
                _dearest(family, q)[0],
            )
            for q in family.quotas
            if q.plan in prices
        )
        tables.append(FamilyTable(family, columns))
    return tables


def tokens_count(tokens: int) -> str:
    """2_500_000 → "2.5M", 1_250_000 → "1.25M" (the published figures, not rounded to one decimal)."""
    if tokens >= 1_000_000:
        return f"{tokens / 1_000_000:g}M"
    return compact(tokens)


def tokens_text(quota: TokenQuota) -> str:
    text = f"{tokens_count(quota.input_tokens)} input"
    if quota.output_tokens is not None:
        text += f" and {tokens_count(quota.output_tokens)} output"
    return f"{text} tokens a month"


def resource_plan_quota(resource: ResourceOut) -> ResourceQuota | None:
    """The quota of the resource's S/M/L plan; None for a Cloud Token amount or a knowledge base."""
    found = plan_quota(resource.type, resource.plan)
    if found is None or resource.plan is None:
        return None
    family, quota = found
    units, model = _dearest(family, quota)
    return ResourceQuota(
        family=family.name,
        plan=resource.plan,
        tokens=tokens_text(quota),
        allocation=f"{thousands(resource.genai_units_per_month)} GU a month",
        covers=f"the whole quota costs at most {thousands(units)} GU ({model})",
    )
