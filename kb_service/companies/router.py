"""The caller's company: subscription, Cloud Token balance and ledger, team settings."""

from __future__ import annotations

from fastapi import APIRouter

from kb_service.companies.models import Company
from kb_service.companies.service import Balance
from kb_service.deps import ActorDep, CompanyServiceDep
from kb_service.errors import Forbidden
from kb_service.openapi import errors
from schemas.companies import (
    CloudTokenBalance,
    CloudTokensOut,
    CompanyOut,
    CompanyUpdate,
    LedgerEntry,
    Subscription,
)

router = APIRouter(prefix="/v1/company", tags=["company"])


@router.get("", responses=errors())
def get_company(actor: ActorDep, companies: CompanyServiceDep) -> CompanyOut:
    return company_out(companies.get(actor.company_id), companies.balance(actor.company_id))


@router.patch("", responses=errors(Forbidden))
def update_company(actor: ActorDep, companies: CompanyServiceDep, body: CompanyUpdate) -> CompanyOut:
    """Company admins enable or disable external invitations."""
    if not actor.is_admin:
        raise Forbidden("Only company admins change company settings.")
    company = companies.set_external_invitations(actor.company_id, body.external_invitations_enabled)
    return company_out(company, companies.balance(actor.company_id))


@router.get("/cloud-tokens", responses=errors())
def cloud_tokens(actor: ActorDep, companies: CompanyServiceDep) -> CloudTokensOut:
    """Available / consumed / total, with every transaction and the balance left after it."""
    balance = companies.balance(actor.company_id)
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
            for t in companies.ledger(actor.company_id)
        ],
    )


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
