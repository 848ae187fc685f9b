"""Companies: the subscription record and the Cloud Token balance with its ledger."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from kb_service.auth.principals import Actor
from kb_service.clock import Clock
from kb_service.companies.models import Company, TokenTransaction
from kb_service.companies.repository import CompanyRepository
from kb_service.errors import Conflict, Forbidden, InvalidInput, NotFound

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Balance:
    total: int
    consumed: int

    @property
    def available(self) -> int:
        return self.total - self.consumed


class InsufficientCloudTokens(Conflict):
    code = "insufficient_cloud_tokens"


class CompanyService:
    def __init__(self, companies: CompanyRepository, clock: Clock) -> None:
        self._companies = companies
        self._clock = clock

    def create(
        self,
        name: str,
        *,
        price_list_year: int | None = None,
        enterprise_subscriptions: int = 1,
        accounts: int = 1,
        cloud_tokens: int = 0,
    ) -> Company:
        if not name.strip():
            raise InvalidInput("A company needs a name.")
        if self._companies.get_by_name(name) is not None:
            raise Conflict(f"Company {name!r} already exists.")
        company = self._companies.add(
            Company(
                name=name,
                price_list_year=price_list_year or self._clock.now().year,
                enterprise_subscriptions=enterprise_subscriptions,
                accounts=accounts,
                cloud_tokens_total=0,
            )
        )
        if cloud_tokens:
            self.add_tokens(company.id, cloud_tokens)
        log.info("company.created", company_id=company.id)
        return company

    def get(self, company_id: str) -> Company:
        company = self._companies.get(company_id)
        if company is None:
            raise NotFound(f"Company {company_id} not found.")
        return company

    def find(self, id_or_name: str) -> Company | None:
        return self._companies.get(id_or_name) or self._companies.get_by_name(id_or_name)

    def balance(self, company_id: str) -> Balance:
        company = self.get(company_id)
        return Balance(company.cloud_tokens_total, self._companies.allocated_tokens(company_id))

    def require_free_tokens(self, company_id: str, needed: int, what: str) -> int:
        """The free Cloud Tokens, if at least `needed`; InsufficientCloudTokens naming `what` and the
        amount missing otherwise. The one balance check of provisioning and capacity increases."""
        available = self.balance(company_id).available
        if available < needed:
            raise InsufficientCloudTokens(
                f"Not enough Cloud Tokens: {what} needs {needed}, {available} are free "
                f"({needed - available} missing).",
                details={"required": needed, "available": available, "missing": needed - available},
                field="size",
            )
        return available

    def add_tokens(self, company_id: str, tokens: int) -> Balance:
        """A purchase of Cloud Tokens (or, negative, a correction)."""
        company = self.get(company_id)
        if company.cloud_tokens_total + tokens < self._companies.allocated_tokens(company_id):
            raise InvalidInput("The balance cannot drop below the tokens allocated to resources.")
        company.cloud_tokens_total += tokens
        self.record(company_id, None, tokens, "purchase")
        return self.balance(company_id)

    def record(self, company_id: str, resource_id: str | None, tokens: int, reason: str) -> None:
        """Write a ledger line once the change it describes is in the session."""
        self._companies.add_transaction(
            TokenTransaction(
                company_id=company_id,
                resource_id=resource_id,
                occurred_at=self._clock.now(),
                tokens=tokens,
                remaining=self.balance(company_id).available,
                reason=reason,
            )
        )

    def ledger(self, company_id: str) -> list[TokenTransaction]:
        return self._companies.transactions(company_id)

    def ledger_for(self, actor: Actor) -> list[TokenTransaction]:
        """The Cloud Token ledger names every resource of the company: company admins only (a 403:
        the caller sees the company, but may not read this)."""
        if not actor.is_admin:
            raise Forbidden("Only company admins read the Cloud Token ledger.")
        return self.ledger(actor.company_id)

    def update_settings(self, actor: Actor, external_invitations_enabled: bool) -> Company:
        """A company admin switches external invitations on or off."""
        if not actor.is_admin:
            raise Forbidden("Only company admins change company settings.")
        return self.set_external_invitations(actor.company_id, external_invitations_enabled)

    def set_external_invitations(self, company_id: str, enabled: bool) -> Company:
        company = self.get(company_id)
        company.external_invitations_enabled = enabled
        return company
