"""Whether a company's free Cloud Tokens can pay for any resource at all, said before the form.

The smallest resource costs `SMALLEST_TOKENS` per month (a text or embeddings resource sized by a
Cloud Token amount; a plan or a knowledge base costs more). With fewer free tokens than that, the
control center disables "Provision Resource" with this reason and the form shows it above a disabled
Review button, instead of letting an admin fill the form only to be refused at the end. The
service still checks the balance on every request (`CompanyService.require_free_tokens`).
"""

from __future__ import annotations

from kb_service.capacity.plans import MIN_TOKENS, PLAN_PRICES
from kb_service.companies.service import Balance

SMALLEST_TOKENS = min(MIN_TOKENS, *(price for prices in PLAN_PRICES.values() for price in prices.values()))


def shortage(balance: Balance) -> str | None:
    """Why nothing can be provisioned with this balance, or None when the smallest size fits."""
    if balance.available >= SMALLEST_TOKENS:
        return None
    unit = "Cloud Token" if SMALLEST_TOKENS == 1 else "Cloud Tokens"
    return (
        f"Not enough free Cloud Tokens: your company has {balance.available:,} free and the smallest "
        f"resource needs {SMALLEST_TOKENS:,} {unit} per month. Buy Cloud Tokens, or free some by "
        "deprovisioning or shrinking a resource."
    )
