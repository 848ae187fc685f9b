"""Companies, their subscription record and their Cloud Token ledger.

The balance is derived, never stored twice: total purchased minus the tokens allocated to live
resources. Each change is also written to the ledger with the balance left after it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from kb_service.db import Base, UTCDateTime, new_id, utcnow


class Company(Base):
    __tablename__ = "companies"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Subscription record: provisioning needs FY21 or newer, one account, one enterprise subscription.
    price_list_year: Mapped[int] = mapped_column(Integer)
    enterprise_subscriptions: Mapped[int] = mapped_column(Integer, default=1)
    accounts: Mapped[int] = mapped_column(Integer, default=1)
    cloud_tokens_total: Mapped[int] = mapped_column(Integer, default=0)
    external_invitations_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TokenTransaction(Base):
    __tablename__ = "token_transactions"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    resource_id: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Negative: tokens allocated to a resource; positive: purchased or freed.
    tokens: Mapped[int] = mapped_column(Integer)
    remaining: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40))
