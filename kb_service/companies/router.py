"""The caller's company: subscription, Cloud Token balance and ledger, team settings."""

from __future__ import annotations

from fastapi import APIRouter

from kb_service.auth.deps import ActorDep
from kb_service.companies.presenters import cloud_tokens_out, company_out
from kb_service.deps import ServicesDep, UnitOfWorkRoute
from kb_service.errors import Forbidden, documented
from schemas.companies import CloudTokensOut, CompanyOut, CompanyUpdate

router = APIRouter(route_class=UnitOfWorkRoute, prefix="/v1/company", tags=["company"])


@router.get("", responses=documented())
def get_company(actor: ActorDep, services: ServicesDep) -> CompanyOut:
    companies = services.companies
    return company_out(companies.get(actor.company_id), companies.balance(actor.company_id))


@router.patch("", responses=documented(Forbidden))
def update_company(actor: ActorDep, services: ServicesDep, body: CompanyUpdate) -> CompanyOut:
    """Company admins enable or disable external invitations. Disabling withdraws every pending
    invitation of the company's resources (their links then answer "withdrawn")."""
    services.teams.set_external_invitations(actor, body.external_invitations_enabled)
    company = services.companies.get(actor.company_id)
    return company_out(company, services.companies.balance(actor.company_id))


@router.get("/cloud-tokens", responses=documented(Forbidden))
def cloud_tokens(actor: ActorDep, services: ServicesDep) -> CloudTokensOut:
    """Available / consumed / total, with every transaction and the balance left after it (admins)."""
    companies = services.companies
    ledger = companies.ledger_for(actor)
    return cloud_tokens_out(companies.balance(actor.company_id), ledger)
