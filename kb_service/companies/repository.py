from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kb_service.companies.models import Company, TokenTransaction
from kb_service.resources.models import Resource, ResourceStatus


class CompanyRepository:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, company: Company) -> Company:
        self._session.add(company)
        self._session.flush()
        return company

    def get(self, company_id: str) -> Company | None:
        return self._session.get(Company, company_id)

    def get_by_name(self, name: str) -> Company | None:
        return self._session.scalars(select(Company).where(Company.name == name)).first()

    def allocated_tokens(self, company_id: str) -> int:
        """Cloud Tokens held by the company's live resources this month."""
        query = select(func.coalesce(func.sum(Resource.capacity_tokens), 0)).where(
            Resource.company_id == company_id, Resource.status != ResourceStatus.DEPROVISIONED
        )
        return int(self._session.scalar(query) or 0)

    def add_transaction(self, transaction: TokenTransaction) -> None:
        self._session.add(transaction)
        self._session.flush()

    def transactions(self, company_id: str) -> list[TokenTransaction]:
        query = (
            select(TokenTransaction)
            .where(TokenTransaction.company_id == company_id)
            .order_by(TokenTransaction.occurred_at, TokenTransaction.id)
        )
        return list(self._session.scalars(query))
