"""The company and its Cloud Tokens as they read on the wire."""

from __future__ import annotations

from kb_service.companies.models import Company, TokenTransaction
from kb_service.companies.service import Balance
from schemas.companies import CloudTokenBalance, CloudTokensOut, CompanyOut, LedgerEntry, Subscription


def balance_out(balance: Balance) -> CloudTokenBalance:
    return CloudTokenBalance(total=balance.total, consumed=balance.consumed, available=balance.available)


def company_out(company: Company, balance: Balance) -> CompanyOut:
    return CompanyOut(
        id=company.id,
        name=company.name,
        subscription=Subscription(
            price_list_year=company.price_list_year,
            enterprise_platform_subscriptions=company.enterprise_subscriptions,
            accounts=company.accounts,
        ),
        cloud_tokens=balance_out(balance),
        external_invitations_enabled=company.external_invitations_enabled,
    )


def cloud_tokens_out(balance: Balance, ledger: list[TokenTransaction]) -> CloudTokensOut:
    return CloudTokensOut(
        **balance_out(balance).model_dump(),
        transactions=[
            LedgerEntry(
                occurred_at=t.occurred_at,
                resource_id=t.resource_id,
                tokens=t.tokens,
                remaining=t.remaining,
                reason=t.reason,
            )
            for t in ledger
        ],
    )
